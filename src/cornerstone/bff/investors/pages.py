"""The investors pages of the web UI: the list, a new investor, and an investor's page (details,
identifiers masked as the API returns them, commitments per fund).

Tax ids and bank numbers are write-only here: the form sends them to the API, which stores them
encrypted and only ever answers them masked; a form shown again after a refusal never carries
them back (they are typed again), and no page shows them unmasked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Permission, Role, allows
from cornerstone.bff.funds.pages import all_items
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.errors import error_page
from cornerstone.bff.web.forms import page_status, unless_refused
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import label, redirect, render
from cornerstone.contracts.funds import SENSITIVE_INVESTOR_FIELDS, InvestorType

router = APIRouter(tags=["ui"], include_in_schema=False)

InvestorId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

NOTICES = {"created": "The investor was added."}
TYPE_OPTIONS = [(kind.value, label(kind.value)) for kind in InvestorType]


@router.get("/investors")
async def investors_list(request: Request, session: PageUser) -> Response:
    investors = await all_items(session, "/api/investors")
    return render(
        request,
        "investors/list.html",
        {
            "investors": sorted(investors, key=lambda i: (str(i["name"]).casefold(), i["id"])),
            "can_create": allows(Permission.INVESTORS_WRITE, session.user.role),
        },
        user=session.user,
        title="Investors",
    )


def _new_investor_page(
    request: Request, session: Session, values: Mapping[str, str], problem: ApiProblem | None
) -> Response:
    # Only the plain fields go back into the form; the sensitive ones are never echoed.
    shown = {key: value for key, value in values.items() if key not in SENSITIVE_INVESTOR_FIELDS}
    return render(
        request,
        "investors/new.html",
        {"values": shown, "problem": problem, "type_options": TYPE_OPTIONS},
        user=session.user,
        status_code=page_status(problem) if problem else 200,
        title="New investor",
    )


@router.get("/investors/new")
async def new_investor_form(request: Request, session: PageUser) -> Response:
    if not allows(Permission.INVESTORS_WRITE, session.user.role):
        return await error_page(request, 403)
    return _new_investor_page(request, session, {"type": InvestorType.LLC.value}, None)


@router.post("/investors/new", dependencies=[CsrfChecked], openapi_extra=audited("investor.create", "investor"))
async def create_investor(
    request: Request,
    session: PageUser,
    name: Annotated[str, Form(max_length=400)] = "",
    type: Annotated[str, Form(max_length=32)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    tax_id: Annotated[str, Form(max_length=64)] = "",
    bank_account: Annotated[str, Form(max_length=64)] = "",
    bank_routing: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"name": name, "type": type, "email": email}
    body: dict[str, Any] = dict(values)
    for field, value in (("tax_id", tax_id), ("bank_account", bank_account), ("bank_routing", bank_routing)):
        if value.strip():
            body[field] = value.strip()
    try:
        investor = await session.api.send("POST", "/api/investors", json=body)
    except ApiProblem as problem:
        return _new_investor_page(request, session, values, unless_refused(problem))
    return redirect(f"/investors/{investor['id']}?notice=created")


async def _commitments_by_fund(session: Session, investor_id: str) -> list[dict[str, Any]]:
    """The investor's commitments, summed per fund (newest fund first), from each fund's entries."""
    funds = await all_items(session, "/api/funds")
    entries = await asyncio.gather(*(all_items(session, f"/api/funds/{fund['id']}/commitments") for fund in funds))
    rows = []
    for fund, commitments in zip(funds, entries, strict=True):
        own = [c for c in commitments if c["investor_id"] == investor_id]
        if own:
            rows.append(
                {
                    "fund_id": fund["id"],
                    "fund_name": fund["name"],
                    "currency": fund["currency"],
                    "committed": sum(int(c["amount"]) for c in own),
                    "entries": len(own),
                    "first": min(str(c["created_at"]) for c in own),
                }
            )
    return rows


async def _own_commitments(session: Session) -> list[dict[str, Any]]:
    """An lp's own commitments per fund, from their portfolio (they do not see the funds' lists)."""
    portfolio = await session.api.get("/api/portfolio")
    return [
        {
            "fund_id": account["fund_id"],
            "fund_name": account.get("fund_name") or account["fund_id"],
            "currency": account.get("currency") or "USD",
            "committed": int(account["committed"]),
            "entries": None,
            "first": None,
        }
        for account in portfolio.get("funds", [])
    ]


@router.get("/investors/{investor_id}")
async def investor_page(
    request: Request,
    session: PageUser,
    investor_id: InvestorId,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    investor = await session.api.get(f"/api/investors/{investor_id}")
    if session.user.role == Role.LP:
        commitments = await _own_commitments(session)
    else:
        commitments = await _commitments_by_fund(session, investor_id)
    return render(
        request,
        "investors/investor.html",
        {
            "investor": investor,
            "commitments": commitments,
            "notice": NOTICES.get(notice or ""),
            "links_to_funds": allows(Permission.FUNDS_READ, session.user.role),
        },
        user=session.user,
        title=str(investor["name"]),
    )
