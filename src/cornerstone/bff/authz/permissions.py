"""The role matrix: one table, permission -> roles allowed. Every route declares one permission.

docs/RBAC.md is generated from this table. An ``external`` user's deal access is further
narrowed by the kernel to the deals they are a party to; an ``lp`` sees only their own
investor's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    GP = "gp"
    ANALYST = "analyst"
    AUDITOR = "auditor"
    LP = "lp"
    EXTERNAL = "external"


ALL_ROLES = frozenset(Role)
ALL_BUT_LP = ALL_ROLES - {Role.LP}
# Funds, investors and money: the firm's own people. External parties (counsel, lenders,
# escrow, property managers) never see them; an lp sees only their own investor, elsewhere.
FIRM = frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.AUDITOR})
MONEY_MANAGERS = frozenset({Role.ADMIN, Role.GP})


class Permission(StrEnum):
    PUBLIC = "public"
    ME_READ = "me:read"
    USERS_READ = "users:read"
    USERS_WRITE = "users:write"
    DEALS_READ = "deals:read"
    DEALS_WRITE = "deals:write"
    DEALS_TRANSITION = "deals:transition"
    AUDIT_READ = "audit:read"
    FUNDS_READ = "funds:read"
    FUNDS_WRITE = "funds:write"
    INVESTORS_READ = "investors:read"
    INVESTOR_READ_OWN = "investors:read-own"
    INVESTORS_WRITE = "investors:write"
    CAPITAL_CALLS_READ = "capital-calls:read"
    CAPITAL_CALLS_WRITE = "capital-calls:write"
    DISTRIBUTIONS_READ = "distributions:read"
    DISTRIBUTIONS_WRITE = "distributions:write"
    PORTFOLIO_READ = "portfolio:read"
    STATEMENTS_READ = "statements:read"
    ARTIFACTS_READ = "artifacts:read"
    ARTIFACTS_UPLOAD = "artifacts:upload"
    PARTIES_READ = "parties:read"
    PARTIES_WRITE = "parties:write"
    APPROVALS_READ = "approvals:read"
    APPROVALS_WRITE = "approvals:write"
    MATERIALS_READ = "materials:read"
    MATERIALS_WRITE = "materials:write"
    MATERIALS_VERIFY = "materials:verify"
    OVERRIDES_WRITE = "overrides:write"
    CHECKLIST_READ = "checklist:read"
    CHECKLIST_WRITE = "checklist:write"
    SNAPSHOTS_READ = "snapshots:read"
    EVIDENCE_PACK_READ = "evidence-pack:read"
    ORG_SETTINGS_READ = "org-settings:read"
    ORG_SETTINGS_WRITE = "org-settings:write"
    DEBUG_READ = "debug:read"


PERMISSIONS: Mapping[Permission, frozenset[Role]] = {
    # Anyone, signed in or not: sign-in itself and the health probes.
    Permission.PUBLIC: ALL_ROLES,
    Permission.ME_READ: ALL_ROLES,
    Permission.USERS_READ: frozenset({Role.ADMIN}),
    Permission.USERS_WRITE: frozenset({Role.ADMIN}),
    Permission.DEALS_READ: ALL_BUT_LP,
    Permission.DEALS_WRITE: frozenset({Role.ADMIN, Role.GP, Role.ANALYST}),
    # Who may request a given edge is the kernel's state-machine table; this is the outer door.
    Permission.DEALS_TRANSITION: frozenset({Role.ADMIN, Role.GP, Role.ANALYST}),
    Permission.AUDIT_READ: frozenset({Role.ADMIN, Role.AUDITOR}),
    Permission.FUNDS_READ: FIRM,
    Permission.FUNDS_WRITE: MONEY_MANAGERS,
    Permission.INVESTORS_READ: FIRM,
    # One investor: the firm, or the lp user linked to that investor (any other id is a 404).
    Permission.INVESTOR_READ_OWN: FIRM | {Role.LP},
    Permission.INVESTORS_WRITE: MONEY_MANAGERS,
    Permission.CAPITAL_CALLS_READ: FIRM,
    Permission.CAPITAL_CALLS_WRITE: MONEY_MANAGERS,
    Permission.DISTRIBUTIONS_READ: FIRM,
    # Approval also needs a second person: the kernel refuses the creator (FOUR_EYES_REQUIRED).
    Permission.DISTRIBUTIONS_WRITE: MONEY_MANAGERS,
    Permission.PORTFOLIO_READ: frozenset({Role.LP}),
    # A statement: admin, gp and auditor, or the lp user for their own investor.
    Permission.STATEMENTS_READ: frozenset({Role.ADMIN, Role.GP, Role.AUDITOR, Role.LP}),
    # External parties reach only the deals they are party to (the kernel answers 404 elsewhere).
    Permission.ARTIFACTS_READ: ALL_BUT_LP,
    Permission.ARTIFACTS_UPLOAD: frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.EXTERNAL}),
    # A deal's authority and evidence. External parties act only on the deals they are party to
    # (the kernel answers 404 for every other deal) and approve only where a gate names their role.
    Permission.PARTIES_READ: ALL_BUT_LP,
    Permission.PARTIES_WRITE: MONEY_MANAGERS,
    Permission.APPROVALS_READ: ALL_BUT_LP,
    # The outer door: the kernel admits only the roles the edge's gate names (403 otherwise).
    Permission.APPROVALS_WRITE: frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.EXTERNAL}),
    Permission.MATERIALS_READ: ALL_BUT_LP,
    Permission.MATERIALS_WRITE: frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.EXTERNAL}),
    Permission.MATERIALS_VERIFY: frozenset({Role.ADMIN, Role.GP, Role.ANALYST}),
    Permission.OVERRIDES_WRITE: frozenset({Role.ADMIN}),
    Permission.CHECKLIST_READ: ALL_BUT_LP,
    # The outer door: the kernel lets an external party change only the items assigned to them.
    Permission.CHECKLIST_WRITE: frozenset({Role.ADMIN, Role.GP, Role.ANALYST, Role.EXTERNAL}),
    Permission.SNAPSHOTS_READ: ALL_BUT_LP,
    # The whole record of a deal, to take away: the people who answer for it and the auditor.
    Permission.EVIDENCE_PACK_READ: frozenset({Role.ADMIN, Role.GP, Role.AUDITOR}),
    Permission.ORG_SETTINGS_READ: FIRM,
    Permission.ORG_SETTINGS_WRITE: frozenset({Role.ADMIN}),
    # How the running system is: its dependencies' reachability and latency (no org data).
    Permission.DEBUG_READ: frozenset({Role.ADMIN}),
}

assert set(PERMISSIONS) == set(Permission), "every permission needs a row in the role table"


def allows(permission: Permission, role: str) -> bool:
    return role in PERMISSIONS[permission]


def public() -> None:
    """Declares a route open to everyone (``dependencies=[Depends(public)]``): every route declares
    a permission, and this is the one for routes that need no sign-in."""


public.permission = Permission.PUBLIC  # type: ignore[attr-defined]  # read by the route walkers and docs
