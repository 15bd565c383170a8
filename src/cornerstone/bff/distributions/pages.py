"""The distributions pages: a new distribution (previewed before it is created) and a
distribution's own page (its tiers, shares, four-eyes approval, payment and cancellation).

Every figure comes from the API, which has the kernel compute it: the preview is
``POST /api/distributions/preview`` (the same computation as creating, nothing stored), and the
page shows what it answered. Creating and paying are money forms: each carries an idempotency
key minted when the form was rendered, so submitting the same form twice moves money once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.web.api import ApiProblem, PageApi
from cornerstone.bff.web.charts import Series, bar_chart
from cornerstone.bff.web.forms import amount_or_error, for_form, form_key, key_after, new_key, send_money
from cornerstone.bff.web.session import CsrfChecked, PageUser
from cornerstone.bff.web.templating import money, redirect, render
from cornerstone.contracts.funds import DistributionKind, DistributionMethod

router = APIRouter(tags=["ui"], include_in_schema=False)

ObjectId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

METHODS: tuple[tuple[str, str], ...] = (
    (DistributionMethod.WATERFALL.value, "Waterfall"),
    (DistributionMethod.PRO_RATA.value, "Pro rata"),
)
KINDS: tuple[tuple[str, str], ...] = (
    (DistributionKind.OPERATING_INCOME.value, "Operating income"),
    (DistributionKind.SALE_PROCEEDS.value, "Sale proceeds"),
    (DistributionKind.REFINANCING_PROCEEDS.value, "Refinancing proceeds"),
    (DistributionKind.RETURN_OF_CAPITAL.value, "Return of capital"),
    (DistributionKind.OTHER.value, "Other"),
)
# The waterfall's tiers in order, with who receives each.
TIERS: tuple[tuple[str, str, str], ...] = (
    ("return_of_capital", "Return of capital", "LPs"),
    ("preferred_return", "Preferred return", "LPs"),
    ("catch_up", "Catch-up", "GP"),
    ("split_lp", "LP split", "LPs"),
    ("split_gp", "GP split", "GP"),
)
STEPS = ("draft", "approved", "paid")

_NOTICES = {
    "created": "Distribution created as a draft. Someone other than you approves it before it can be paid.",
    "approved": "Distribution approved. It can now be paid.",
    "paid": "Distribution paid: each investor's share is recorded in the ledger.",
    "cancelled": "Distribution cancelled.",
}

# What a refusal means for the person looking at the page, beside the API's own sentence.
_EXPLAINED = {
    "FOUR_EYES_REQUIRED": (
        "You created this distribution, so you cannot approve it: the four-eyes rule needs a second "
        "person. Ask an admin or gp other than you to approve it."
    ),
    "DISTRIBUTION_STALE": (
        "The contributions or distributions this draft was computed on have changed since it was created. "
        "Cancel this distribution and create it again to compute it on today's figures."
    ),
    "DISTRIBUTION_STATE_CONFLICT": "The distribution's status has changed; the page now shows where it stands.",
    "NOTHING_CONTRIBUTED": "No capital had been contributed to the fund by that date: choose a later date.",
    "DISTRIBUTION_OUT_OF_ORDER": (
        "Distributions are computed in date order, and an approved one is dated after this date: "
        "choose a date on or after it."
    ),
}


@dataclass
class DistributionForm:
    """The new-distribution form as typed (strings), and its idempotency key."""

    amount: str = ""
    date: str = ""
    method: str = DistributionMethod.WATERFALL.value
    kind: str = DistributionKind.OTHER.value
    idempotency_key: str = ""


@dataclass
class FieldMessages:
    """Messages for the form's fields, found by name (what ``macros/forms.html`` asks a problem)."""

    messages: dict[str, str]

    def for_field(self, name: str) -> str | None:
        return self.messages.get(name)


def _explain(problem: ApiProblem | None) -> str | None:
    return _EXPLAINED.get(problem.code) if problem is not None else None


def _body(fund_id: str, form: DistributionForm, currency: str) -> tuple[dict[str, Any] | None, FieldMessages]:
    """The API body for ``form``, or the messages of the fields a person has to correct."""
    messages: dict[str, str] = {}
    amount = amount_or_error(form.amount, currency, "amount", messages) or 0
    if "amount" not in messages and amount <= 0:
        messages["amount"] = "Enter an amount greater than zero."
    try:
        on = date.fromisoformat(form.date.strip())
    except ValueError:
        messages["date"] = "Enter the date as YYYY-MM-DD."
    if form.method not in {value for value, _ in METHODS}:
        messages["method"] = "Choose pro rata or waterfall."
    if form.kind not in {value for value, _ in KINDS}:
        messages["kind"] = "Choose one of the kinds listed."
    if messages:
        return None, FieldMessages(messages)
    body = {"fund_id": fund_id, "amount": amount, "date": on.isoformat(), "method": form.method, "kind": form.kind}
    return body, FieldMessages({})


def tier_rows(figures: Mapping[str, Any]) -> list[dict[str, Any]]:
    tiers = figures["tiers"]
    return [{"key": key, "name": name, "to": to, "amount": int(tiers[key])} for key, name, to in TIERS]


def allocation_rows(figures: Mapping[str, Any], names: Mapping[str, str]) -> list[dict[str, Any]]:
    amount = int(figures["amount"]) or 1
    rows = [
        {
            "investor_id": share["investor_id"],
            "name": names.get(share["investor_id"], f"Investor {share['investor_id']}"),
            "amount": int(share["amount"]),
            "share": f"{int(share['amount']) * 100 / amount:.2f}%",
        }
        for share in figures["allocations"]
    ]
    return sorted(rows, key=lambda row: (-row["amount"], row["name"]))


def tiers_chart(figures: Mapping[str, Any], chart_id: str) -> Any:
    currency = str(figures["currency"])
    rows = tier_rows(figures)
    return bar_chart(
        "Distribution by waterfall tier",
        [row["name"] for row in rows],
        [Series("Amount", [row["amount"] for row in rows])],
        lambda value: money(value, currency),
        chart_id=chart_id,
    )


async def _figures_context(api: PageApi, figures: Mapping[str, Any], chart_id: str) -> dict[str, Any]:
    names = await api.names("/api/investors", (share["investor_id"] for share in figures["allocations"]))
    allocations = allocation_rows(figures, names)
    return {
        "tiers": tier_rows(figures),
        "chart": tiers_chart(figures, chart_id),
        "allocations": allocations,
        "allocated": sum(row["amount"] for row in allocations),
    }


# --- a new distribution ------------------------------------------------------------------------


async def _new_page(
    request: Request,
    session: PageUser,
    fund: Mapping[str, Any],
    form: DistributionForm,
    *,
    problem: ApiProblem | None = None,
    fields: FieldMessages | None = None,
    preview: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    context: dict[str, Any] = {
        "fund": fund,
        "form": form,
        "methods": METHODS,
        "kinds": KINDS,
        "problem": problem,
        "explanation": _explain(problem),
        "fields": problem if problem is not None and problem.field_errors else fields,
        "preview": preview,
    }
    if preview is not None:
        context.update(await _figures_context(session.api, preview, "preview-tiers"))
    return render(
        request,
        "distributions/new.html",
        context,
        user=session.user,
        status_code=status_code,
        title=f"New distribution — {fund['name']}",
    )


@router.get("/funds/{fund_id}/distributions/new")
async def new_distribution(request: Request, session: PageUser, fund_id: ObjectId) -> Response:
    fund = await session.api.get(f"/api/funds/{fund_id}")
    form = DistributionForm(date=date.today().isoformat(), idempotency_key=new_key())
    return await _new_page(request, session, fund, form)


FormText = Annotated[str, Form(max_length=64)]


def _typed(amount: str, on: str, method: str, kind: str, idempotency_key: str) -> DistributionForm:
    return DistributionForm(amount, on, method, kind, form_key(idempotency_key))


@router.post(
    "/funds/{fund_id}/distributions/preview",
    dependencies=[CsrfChecked],
    openapi_extra=audited("distribution.preview", "distribution"),
)
async def preview_distribution(
    request: Request,
    session: PageUser,
    fund_id: ObjectId,
    amount: FormText = "",
    on: Annotated[str, Form(alias="date", max_length=32)] = "",
    method: FormText = "",
    kind: FormText = "",
    idempotency_key: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """The figures the distribution would have, shown with the form to create it (nothing stored)."""
    fund = await session.api.get(f"/api/funds/{fund_id}")
    form = _typed(amount, on, method, kind, idempotency_key)
    body, fields = _body(fund_id, form, fund["currency"])
    if body is None:
        return await _new_page(request, session, fund, form, fields=fields, status_code=422)
    try:
        preview = await session.api.send("POST", "/api/distributions/preview", json=body)
    except ApiProblem as problem:
        return await _new_page(request, session, fund, form, problem=problem, status_code=problem.status)
    return await _new_page(request, session, fund, form, preview=preview)


@router.post(
    "/funds/{fund_id}/distributions",
    dependencies=[CsrfChecked],
    openapi_extra=audited("distribution.create", "distribution"),
)
async def create_distribution(
    request: Request,
    session: PageUser,
    fund_id: ObjectId,
    amount: FormText = "",
    on: Annotated[str, Form(alias="date", max_length=32)] = "",
    method: FormText = "",
    kind: FormText = "",
    idempotency_key: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """💰 Create the draft distribution; the form's key makes a second submission a replay."""
    fund = await session.api.get(f"/api/funds/{fund_id}")
    form = _typed(amount, on, method, kind, idempotency_key)
    body, fields = _body(fund_id, form, fund["currency"])
    if body is None:
        return await _new_page(request, session, fund, form, fields=fields, status_code=422)
    try:
        # A second submission still in flight is refused at once here (not waited for).
        created = await send_money(session.api, "/api/distributions", body, form.idempotency_key, wait_seconds=0)
    except ApiProblem as problem:
        # A refusal the API kept under the key: a corrected form is a new request.
        form.idempotency_key = key_after(problem, form.idempotency_key, new_key(), in_flight_stored=True)
        return await _new_page(request, session, fund, form, problem=problem, status_code=problem.status)
    return redirect(f"/distributions/{created['id']}?notice=created")


# --- one distribution --------------------------------------------------------------------------


async def _creator_email(api: PageApi, viewer_role: str, creator_id: str) -> str | None:
    """The creator's email where the viewer may read the org's users (admin); None otherwise."""
    if not allows(Permission.USERS_READ, viewer_role):
        return None
    return (await api.names("/api/users", [creator_id], field="email", max_pages=50)).get(creator_id)


async def _distribution_page(
    request: Request,
    session: PageUser,
    distribution_id: str,
    *,
    notice: str | None = None,
    problem: ApiProblem | None = None,
    status_code: int = 200,
) -> Response:
    distribution = await session.api.get(f"/api/distributions/{distribution_id}")
    fund = await session.api.get(f"/api/funds/{distribution['fund_id']}")
    user = session.user
    creator_is_viewer = distribution["created_by"] == user.user_id
    creator_email = (
        None if creator_is_viewer else await _creator_email(session.api, user.role, distribution["created_by"])
    )
    status = distribution["status"]
    context: dict[str, Any] = {
        "distribution": distribution,
        "fund": fund,
        "notice": _NOTICES.get(notice or ""),
        "problem": problem,
        "explanation": _explain(problem),
        "steps": STEPS,
        "step_index": STEPS.index(status) if status in STEPS else -1,
        "creator_is_viewer": creator_is_viewer,
        "creator_email": creator_email,
        "approver_is_viewer": distribution.get("approved_by") == user.user_id,
        "can_write": allows(Permission.DISTRIBUTIONS_WRITE, user.role),
        "pay_key": new_key(),
        **await _figures_context(session.api, distribution, "distribution-tiers"),
    }
    return render(
        request,
        "distributions/detail.html",
        context,
        user=user,
        status_code=status_code,
        title=f"Distribution of {money(distribution['amount'], distribution['currency'])} — {fund['name']}",
    )


@router.get("/distributions/{distribution_id}")
async def distribution_page(
    request: Request,
    session: PageUser,
    distribution_id: ObjectId,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return await _distribution_page(request, session, distribution_id, notice=notice)


async def _act(
    request: Request, session: PageUser, distribution_id: str, verb: str, notice: str, key: str | None = None
) -> Response:
    try:
        await session.api.send("POST", f"/api/distributions/{distribution_id}/{verb}", idempotency_key=key)
    except ApiProblem as problem:
        return await _distribution_page(
            request, session, distribution_id, problem=for_form(problem), status_code=problem.status
        )
    return redirect(f"/distributions/{distribution_id}?notice={notice}")


@router.post(
    "/distributions/{distribution_id}/approve",
    dependencies=[CsrfChecked],
    openapi_extra=audited("distribution.approve", "distribution"),
)
async def approve_distribution(request: Request, session: PageUser, distribution_id: ObjectId) -> Response:
    return await _act(request, session, distribution_id, "approve", "approved")


@router.post(
    "/distributions/{distribution_id}/pay",
    dependencies=[CsrfChecked],
    openapi_extra=audited("distribution.pay", "distribution"),
)
async def pay_distribution(
    request: Request,
    session: PageUser,
    distribution_id: ObjectId,
    idempotency_key: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """💰 Pay an approved distribution; the form's key makes a second submission a replay."""
    key = _typed("", "", "", "", idempotency_key).idempotency_key
    return await _act(request, session, distribution_id, "pay", "paid", key)


@router.post(
    "/distributions/{distribution_id}/cancel",
    dependencies=[CsrfChecked],
    openapi_extra=audited("distribution.cancel", "distribution"),
)
async def cancel_distribution(request: Request, session: PageUser, distribution_id: ObjectId) -> Response:
    return await _act(request, session, distribution_id, "cancel", "cancelled")
