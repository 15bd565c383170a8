"""The capital calls pages of the web UI: a new call (with a preview of each investor's share,
computed by the API exactly as creating the call computes it, storing nothing), and a call's page
(its allocations, issue, cancel, and the payment form).

Creating a call and recording a payment move money: each form carries an idempotency key minted
when it was rendered, so the same form submitted twice moves the money once (the API replays the
first outcome).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.funds.pages import FundId, all_items, investor_names
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.errors import error_page
from cornerstone.bff.web.forms import (
    amount_or_error,
    for_form,
    form_key,
    form_problem,
    key_after,
    new_key,
    page_status,
    send_money,
    unless_refused,
)
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import money, redirect, render

router = APIRouter(tags=["ui"], include_in_schema=False)

CallId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
KeyField = Annotated[str, Form(max_length=255)]

NOTICES = {
    "created": "The capital call was created as a draft. Issue it to ask the investors for their shares.",
    "issued": "The call was issued to its investors.",
    "cancelled": "The call was cancelled.",
    "payment": "The payment was recorded.",
}
# The path a call takes; a cancelled call leaves it.
STEPS = ("draft", "issued", "partially_funded", "funded")
_DEALS_SHOWN = 200


def _refusal_hint(problem: ApiProblem | None, currency: str) -> str | None:
    """The money a refusal names, in the fund's currency (the API's sentence counts minor units)."""
    if problem is None:
        return None
    if problem.code == "CALL_EXCEEDS_UNFUNDED" and isinstance(problem.body.get("uncalled"), int):
        return f"At most {money(problem.body['uncalled'], currency)} of the commitments is uncalled."
    if problem.code == "PAYMENT_EXCEEDS_ALLOCATION" and isinstance(problem.body.get("due"), int):
        return f"This investor owes {money(problem.body['due'], currency)} on this call."
    return None


# --- a new call ----------------------------------------------------------------------------------------


async def _deal_options(session: Session) -> list[tuple[str, str]]:
    page = await session.api.get("/api/deals", {"limit": _DEALS_SHOWN})
    deals = sorted(page["items"], key=lambda d: str(d["name"]).casefold())
    return [("", "No deal"), *((str(d["id"]), str(d["name"])) for d in deals)]


async def _new_call_page(
    request: Request,
    session: Session,
    fund: Mapping[str, Any],
    *,
    values: Mapping[str, str],
    key: str,
    problem: ApiProblem | None = None,
    preview: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    if not allows(Permission.CAPITAL_CALLS_WRITE, session.user.role):
        return await error_page(request, 403)
    currency = str(fund["currency"])
    rows: list[dict[str, Any]] = []
    if preview is not None:
        names = investor_names(await all_items(session, "/api/investors"))
        rows = sorted(
            (
                {
                    "investor_id": share["investor_id"],
                    "name": names.get(share["investor_id"], share["investor_id"]),
                    "amount": int(share["amount"]),
                }
                for share in preview["allocations"]
            ),
            key=lambda row: (-row["amount"], str(row["name"]).casefold()),
        )
    figures = fund["figures"]
    return render(
        request,
        "capital_calls/new.html",
        {
            "fund": fund,
            "uncalled": int(figures["committed"]) - int(figures["called"]),
            "values": values,
            "key": key,
            "problem": problem,
            "hint": _refusal_hint(problem, currency),
            "preview": preview,
            "preview_rows": rows,
            "deal_options": await _deal_options(session),
        },
        user=session.user,
        status_code=page_status(problem) if problem else status_code,
        title="New capital call",
    )


@router.get("/funds/{fund_id}/capital-calls/new")
async def new_call_form(request: Request, session: PageUser, fund_id: FundId) -> Response:
    fund = await session.api.get(f"/api/funds/{fund_id}")
    return await _new_call_page(request, session, fund, values={}, key=new_key())


def _call_body(fund: Mapping[str, Any], values: Mapping[str, str]) -> tuple[dict[str, Any] | None, ApiProblem | None]:
    errors: dict[str, str] = {}
    minor = amount_or_error(values["amount"], str(fund["currency"]), "amount", errors)
    if not values["due_date"].strip():
        errors["due_date"] = "Enter the date the call is due."
    if not values["purpose"].strip():
        errors["purpose"] = "Say what the capital is for."
    if errors or minor is None:
        return None, form_problem(errors)
    body: dict[str, Any] = {
        "fund_id": fund["id"],
        "amount": minor,
        "due_date": values["due_date"].strip(),
        "purpose": values["purpose"].strip(),
    }
    if values["deal_id"]:
        body["deal_id"] = values["deal_id"]
    return body, None


@router.post(
    "/funds/{fund_id}/capital-calls/preview",
    dependencies=[CsrfChecked],
    openapi_extra=audited("capital_call.preview", "fund"),
)
async def preview_call(
    request: Request,
    session: PageUser,
    fund_id: FundId,
    amount: Annotated[str, Form(max_length=64)] = "",
    due_date: Annotated[str, Form(max_length=32)] = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    deal_id: Annotated[str, Form(max_length=64)] = "",
    idempotency_key: KeyField = "",
) -> Response:
    """Each investor's share of the call as typed, from the API's preview; nothing is stored, and
    the form keeps its key (the call is not created yet)."""
    fund = await session.api.get(f"/api/funds/{fund_id}")
    values = {"amount": amount, "due_date": due_date, "purpose": purpose, "deal_id": deal_id}
    key = form_key(idempotency_key)
    body, problem = _call_body(fund, values)
    if body is None:
        return await _new_call_page(request, session, fund, values=values, key=key, problem=problem)
    try:
        preview = await session.api.send("POST", "/api/capital-calls/preview", json=body)
    except ApiProblem as refused:
        problem = unless_refused(refused)
        return await _new_call_page(request, session, fund, values=values, key=key, problem=problem)
    return await _new_call_page(request, session, fund, values=values, key=key, preview=preview)


@router.post(
    "/funds/{fund_id}/capital-calls",
    dependencies=[CsrfChecked],
    openapi_extra=audited("capital_call.create", "capital_call"),
)
async def create_call(
    request: Request,
    session: PageUser,
    fund_id: FundId,
    amount: Annotated[str, Form(max_length=64)] = "",
    due_date: Annotated[str, Form(max_length=32)] = "",
    purpose: Annotated[str, Form(max_length=1000)] = "",
    deal_id: Annotated[str, Form(max_length=64)] = "",
    idempotency_key: KeyField = "",
) -> Response:
    fund = await session.api.get(f"/api/funds/{fund_id}")
    values = {"amount": amount, "due_date": due_date, "purpose": purpose, "deal_id": deal_id}
    body, problem = _call_body(fund, values)
    if body is None:
        # Nothing was sent: the form keeps its key.
        key = form_key(idempotency_key)
        return await _new_call_page(request, session, fund, values=values, key=key, problem=problem)
    try:
        call = await send_money(session.api, "/api/capital-calls", body, form_key(idempotency_key))
    except ApiProblem as refused:
        key = key_after(unless_refused(refused), idempotency_key, new_key())
        return await _new_call_page(request, session, fund, values=values, key=key, problem=refused)
    return redirect(f"/capital-calls/{call['id']}?notice=created")


# --- one call ------------------------------------------------------------------------------------------


async def _call_page(
    request: Request,
    session: Session,
    call_id: str,
    *,
    notice: str | None = None,
    action_problem: ApiProblem | None = None,
    payment_problem: ApiProblem | None = None,
    payment_values: Mapping[str, str] | None = None,
    key: str | None = None,
    call: Mapping[str, Any] | None = None,
) -> Response:
    call = call or await session.api.get(f"/api/capital-calls/{call_id}")
    fund, investors = await session.api.get(f"/api/funds/{call['fund_id']}"), await all_items(session, "/api/investors")
    names = investor_names(investors)
    currency = str(call["currency"])
    rows = sorted(
        (
            {
                "investor_id": share["investor_id"],
                "name": names.get(share["investor_id"], share["investor_id"]),
                "amount": int(share["amount"]),
                "paid": int(share["paid"]),
                "outstanding": int(share["amount"]) - int(share["paid"]),
            }
            for share in call["allocations"]
        ),
        key=lambda row: (-row["amount"], str(row["name"]).casefold()),
    )
    owing = [row for row in rows if row["outstanding"] > 0]
    payment_options = [
        (row["investor_id"], f"{row['name']} — owes {money(row['outstanding'], currency)}") for row in owing
    ]
    can_write = allows(Permission.CAPITAL_CALLS_WRITE, session.user.role)
    status = str(call["status"])
    problem = action_problem or payment_problem
    return render(
        request,
        "capital_calls/call.html",
        {
            "call": call,
            "fund": fund,
            "rows": rows,
            "steps": STEPS,
            "step_index": STEPS.index(status) if status in STEPS else -1,
            "outstanding": int(call["amount"]) - int(call["paid"]),
            "notice": NOTICES.get(notice or ""),
            "can_issue": can_write and status == "draft",
            "can_cancel": can_write and status in ("draft", "issued") and int(call["paid"]) == 0,
            "can_pay": can_write and status in ("issued", "partially_funded") and bool(owing),
            "payment_options": payment_options,
            "payment_values": payment_values or {"received_at": date.today().isoformat()},
            "payment_problem": payment_problem,
            "payment_hint": _refusal_hint(payment_problem, currency),
            "action_problem": action_problem,
            "key": key or new_key(),
        },
        user=session.user,
        status_code=page_status(problem) if problem else 200,
        title=f"Capital call — {call['purpose']}",
    )


@router.get("/capital-calls/{call_id}")
async def call_page(
    request: Request,
    session: PageUser,
    call_id: CallId,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return await _call_page(request, session, call_id, notice=notice)


async def _act(request: Request, session: Session, call_id: str, verb: str, notice: str) -> Response:
    try:
        await session.api.send("POST", f"/api/capital-calls/{call_id}/{verb}")
    except ApiProblem as problem:
        return await _call_page(request, session, call_id, action_problem=for_form(problem))
    return redirect(f"/capital-calls/{call_id}?notice={notice}")


@router.post(
    "/capital-calls/{call_id}/issue",
    dependencies=[CsrfChecked],
    openapi_extra=audited("capital_call.issue", "capital_call"),
)
async def issue_call(request: Request, session: PageUser, call_id: CallId) -> Response:
    return await _act(request, session, call_id, "issue", "issued")


@router.post(
    "/capital-calls/{call_id}/cancel",
    dependencies=[CsrfChecked],
    openapi_extra=audited("capital_call.cancel", "capital_call"),
)
async def cancel_call(request: Request, session: PageUser, call_id: CallId) -> Response:
    return await _act(request, session, call_id, "cancel", "cancelled")


@router.post(
    "/capital-calls/{call_id}/payments",
    dependencies=[CsrfChecked],
    openapi_extra=audited("capital_call.payment", "capital_call"),
)
async def record_payment(
    request: Request,
    session: PageUser,
    call_id: CallId,
    investor_id: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=64)] = "",
    received_at: Annotated[str, Form(max_length=32)] = "",
    idempotency_key: KeyField = "",
) -> Response:
    call = await session.api.get(f"/api/capital-calls/{call_id}")
    values = {"investor_id": investor_id, "amount": amount, "received_at": received_at}
    errors: dict[str, str] = {}
    if not investor_id:
        errors["investor_id"] = "Choose the investor who paid."
    minor = amount_or_error(amount, str(call["currency"]), "amount", errors)
    if not received_at.strip():
        errors["received_at"] = "Enter the date the money was received."
    if errors or minor is None:
        return await _call_page(
            request,
            session,
            call_id,
            call=call,
            payment_problem=form_problem(errors),
            payment_values=values,
            key=idempotency_key or None,
        )
    body = {"investor_id": investor_id, "amount": minor, "received_at": received_at.strip()}
    try:
        await send_money(session.api, f"/api/capital-calls/{call_id}/payments", body, form_key(idempotency_key))
    except ApiProblem as refused:
        return await _call_page(
            request,
            session,
            call_id,
            payment_problem=for_form(refused),
            payment_values=values,
            key=key_after(refused, idempotency_key, new_key()),
        )
    return redirect(f"/capital-calls/{call_id}?notice=payment")
