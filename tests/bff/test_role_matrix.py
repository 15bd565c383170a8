"""Every route, every role: allowed or refused exactly as the role table says."""

from __future__ import annotations

import uuid

import pytest

from cornerstone.bff.authz.permissions import PERMISSIONS, Permission, Role
from cornerstone.bff.authz.routes import declared_routes
from tests.integration.helpers import body_for, built_bff_app, files_for, query_for, real_ids
from tests.support import Org

ROUTES = declared_routes(built_bff_app())


def test_every_route_declares_a_permission_from_the_table() -> None:
    assert len(ROUTES) >= 10
    undeclared = [(r.method, r.path) for r in ROUTES if r.permission not in {p.value for p in Permission}]
    assert undeclared == []


def test_every_write_route_declares_an_audit_action() -> None:
    writes = [r for r in ROUTES if r.method in {"POST", "PUT", "PATCH", "DELETE"}]
    assert writes
    assert [(r.method, r.path) for r in writes if not r.audit_action] == []


def test_each_role_is_allowed_or_refused_on_every_route_as_the_table_says(org: Org, subtests: pytest.Subtests) -> None:
    with org.client() as admin:
        ids = real_ids(admin)
    for role in Role:
        for route in ROUTES:
            if route.permission == Permission.PUBLIC.value:
                continue
            # Routes that end the caller's own tokens (logout, password change) get a throwaway user.
            own_session = route.path.startswith("/api/auth/")
            with subtests.test(role=role.value, route=f"{route.method} {route.path}"):
                with org.client() as admin:
                    target_user = admin.post(
                        "/api/users", json={"email": f"m-{uuid.uuid4().hex[:8]}@example.test", "role": "analyst"}
                    ).json()
                body = body_for(route.method, route.path)
                if body is not None and route.path == "/api/users":
                    body = {**body, "email": f"w-{uuid.uuid4().hex[:8]}@example.test"}
                targets = {**ids, "user_id": target_user["id"]}
                url = route.path.format(**targets)
                token = org.fresh_token(role.value) if own_session else org.token(role.value)
                with org.stack.client(token) as client:
                    response = client.request(
                        route.method,
                        url,
                        json=body,
                        files=files_for(route.method, route.path),
                        params=query_for(route.path, targets),
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )
                allowed = role in PERMISSIONS[Permission(route.permission)]
                if allowed:
                    # A role the table admits may still be refused one object (NOT_THE_AUTHOR: only an
                    # approval's author withdraws it), never with the role refusal FORBIDDEN.
                    assert response.status_code != 401, response.text
                    assert response.status_code != 403 or response.json()["code"] == "NOT_THE_AUTHOR", response.text
                    assert response.status_code < 500, response.text
                else:
                    assert response.status_code == 403, response.text
                    assert response.json()["code"] == "FORBIDDEN"
