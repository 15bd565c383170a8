"""The funds pages of the web UI: the list of funds, a new fund, and a fund's page (terms,
figures, commitments with called versus committed per investor, capital calls, distributions,
the NAV mark, and the forms that add a commitment or a NAV mark).

Every read and change goes through the public API as the signed-in user (``bff.web.api``); the
helpers here (reading every page of a list, typed rates and amounts, money forms' keys) serve the
investors and capital calls pages too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.charts import Series, bar_chart, legend
from cornerstone.bff.web.errors import error_page
from cornerstone.bff.web.forms import amount_or_error, form_problem, page_status, unless_refused
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import money, redirect, render
from cornerstone.contracts.funds import Compounding

router = APIRouter(tags=["ui"], include_in_schema=False)

FundId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "CHF", "JPY", "AUD")
# How many rows of one list a page reads at most (the API pages by 200).
LIST_CAP = 2000
_PAGE = 200

NOTICES = {
    "created": "The fund was created.",
    "commitment": "The commitment was added.",
    "valuation": "The NAV mark was recorded.",
}

# "8", "8%", "8.25 %": a percentage with at most four decimals (a rate has at most six places).
_PERCENT = re.compile(r"^([0-9]{1,3})(?:\.([0-9]{1,4}))?\s*%?$")


class RateError(ValueError):
    """Text that is not a percentage; the message is a sentence for the person typing."""


def parse_percent(text: str) -> str:
    """A percentage as people type it (``"8"``, ``"8%"``, ``"8.25 %"``) as the API's decimal rate
    string, exactly: ``"0.08"``, ``"0.0825"``; ``"20"`` -> ``"0.2"``, ``"100"`` -> ``"1"``, ``"0"`` -> ``"0"``.
    No float is involved (the digits are moved two places). Refused: nothing, a sign, letters, an
    exponent, more than four decimals, more than 100."""
    cleaned = text.strip()
    if not cleaned:
        raise RateError("Enter a percentage, like 8 or 8%.")
    match = _PERCENT.match(cleaned)
    if match is None:
        raise RateError("Enter a percentage in digits, like 8 or 8.5%.")
    whole, decimals = match.group(1), match.group(2) or ""
    value = Decimal(f"{whole}.{decimals}" if decimals else whole)
    if value > 100:
        raise RateError("Enter a percentage from 0 to 100.")
    rate = value.scaleb(-2).normalize()
    return format(rate, "f")


def percent_text(rate: str | None) -> str:
    """A decimal rate as the percentage a person would type back (``"0.08"`` -> ``"8"``)."""
    if rate is None or rate == "":
        return ""
    return format(Decimal(str(rate)).scaleb(2).normalize(), "f")


async def all_items(session: Session, path: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every item of an API list, following ``next_cursor`` (up to ``LIST_CAP``)."""
    return await session.api.get_all(path, params, cap=LIST_CAP, page_size=_PAGE)


def investor_names(investors: list[dict[str, Any]]) -> dict[str, str]:
    return {str(investor["id"]): str(investor["name"]) for investor in investors}


# --- the list and a new fund ----------------------------------------------------------------------


@router.get("/funds")
async def funds_list(request: Request, session: PageUser) -> Response:
    """Every fund of the org with its figures, as the API computes them."""
    funds = await all_items(session, "/api/funds")
    return render(
        request,
        "funds/list.html",
        {"funds": funds, "can_create": allows(Permission.FUNDS_WRITE, session.user.role)},
        user=session.user,
        title="Funds",
    )


_FUND_DEFAULTS = {
    "name": "",
    "currency": "USD",
    "pref_rate": "8",
    "pref_compounding": Compounding.ANNUAL.value,
    "catch_up_rate": "100",
    "carry_rate": "20",
}
_RATE_FIELDS = ("pref_rate", "catch_up_rate", "carry_rate")


def _new_fund_page(
    request: Request, session: Session, values: Mapping[str, str], problem: ApiProblem | None
) -> Response:
    return render(
        request,
        "funds/new.html",
        {
            "values": values,
            "problem": problem,
            "currency_options": [(code, code) for code in CURRENCIES],
            "compounding_options": [
                (Compounding.ANNUAL.value, "Annual (on unreturned capital and unpaid return)"),
                (Compounding.SIMPLE.value, "Simple"),
            ],
        },
        user=session.user,
        status_code=page_status(problem) if problem else 200,
        title="New fund",
    )


@router.get("/funds/new")
async def new_fund_form(request: Request, session: PageUser) -> Response:
    if not allows(Permission.FUNDS_WRITE, session.user.role):
        return await error_page(request, 403)
    return _new_fund_page(request, session, _FUND_DEFAULTS, None)


@router.post("/funds/new", dependencies=[CsrfChecked], openapi_extra=audited("fund.create", "fund"))
async def create_fund(
    request: Request,
    session: PageUser,
    name: Annotated[str, Form(max_length=400)] = "",
    currency: Annotated[str, Form(max_length=8)] = "",
    pref_rate: Annotated[str, Form(max_length=40)] = "",
    pref_compounding: Annotated[str, Form(max_length=16)] = "",
    catch_up_rate: Annotated[str, Form(max_length=40)] = "",
    carry_rate: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    values = {
        "name": name,
        "currency": currency,
        "pref_rate": pref_rate,
        "pref_compounding": pref_compounding,
        "catch_up_rate": catch_up_rate,
        "carry_rate": carry_rate,
    }
    errors: dict[str, str] = {}
    rates: dict[str, str] = {}
    for field in _RATE_FIELDS:
        try:
            rates[field] = parse_percent(values[field])
        except RateError as error:
            errors[field] = str(error)
    if errors:
        return _new_fund_page(request, session, values, form_problem(errors))
    body = {"name": name, "currency": currency, "pref_compounding": pref_compounding, **rates}
    try:
        fund = await session.api.send("POST", "/api/funds", json=body)
    except ApiProblem as problem:
        return _new_fund_page(request, session, values, unless_refused(problem))
    return redirect(f"/funds/{fund['id']}?notice=created")


# --- one fund ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InvestorPosition:
    """One investor in the fund, as the fund page shows it: what they committed, were called for (in
    calls not cancelled) and paid."""

    investor_id: str
    name: str
    committed: int
    called: int
    paid: int

    @property
    def uncalled(self) -> int:
        return max(self.committed - self.called, 0)


def positions(
    commitments: list[dict[str, Any]], calls: list[dict[str, Any]], names: Mapping[str, str]
) -> list[InvestorPosition]:
    committed: dict[str, int] = {}
    for commitment in commitments:
        committed[commitment["investor_id"]] = committed.get(commitment["investor_id"], 0) + int(commitment["amount"])
    called: dict[str, int] = {}
    paid: dict[str, int] = {}
    for call in calls:
        if call["status"] == "cancelled":
            continue
        for share in call["allocations"]:
            called[share["investor_id"]] = called.get(share["investor_id"], 0) + int(share["amount"])
            paid[share["investor_id"]] = paid.get(share["investor_id"], 0) + int(share["paid"])
    rows = [
        InvestorPosition(
            investor, names.get(investor, investor), amount, called.get(investor, 0), paid.get(investor, 0)
        )
        for investor, amount in committed.items()
    ]
    return sorted(rows, key=lambda row: (-row.committed, row.name.casefold(), row.investor_id))


async def _fund_context(session: Session, fund_id: str) -> dict[str, Any]:
    fund = await session.api.get(f"/api/funds/{fund_id}")
    commitments, investors, calls, distributions = await asyncio.gather(
        all_items(session, f"/api/funds/{fund_id}/commitments"),
        all_items(session, "/api/investors"),
        all_items(session, "/api/capital-calls", {"fund_id": fund_id}),
        all_items(session, "/api/distributions", {"fund_id": fund_id}),
    )
    names = investor_names(investors)
    currency = str(fund["currency"])
    rows = positions(commitments, calls, names)
    series = [Series("Committed", [row.committed for row in rows]), Series("Called", [row.called for row in rows])]
    chart = (
        bar_chart(
            "Called vs committed",
            [row.name for row in rows],
            series,
            lambda value: money(value, currency),
            chart_id="called-vs-committed",
            width=max(720, 150 + 110 * len(rows)),
        )
        if rows
        else None
    )
    figures = fund["figures"]
    return {
        "fund": fund,
        "figures": figures,
        "unfunded": int(figures["committed"]) - int(figures["contributed"]),
        "commitments": sorted(commitments, key=lambda c: str(c["created_at"]), reverse=True),
        "names": names,
        "positions": rows,
        "chart": chart,
        "chart_legend": legend(series) if rows else None,
        "calls": sorted(calls, key=lambda c: (str(c["due_date"]), str(c["created_at"])), reverse=True),
        "distributions": sorted(distributions, key=lambda d: (str(d["date"]), str(d["created_at"])), reverse=True),
        "investor_options": sorted(
            ((investor_id, name) for investor_id, name in names.items()), key=lambda pair: pair[1].casefold()
        ),
        "can_write": allows(Permission.FUNDS_WRITE, session.user.role),
        "can_call": allows(Permission.CAPITAL_CALLS_WRITE, session.user.role),
        "can_distribute": allows(Permission.DISTRIBUTIONS_WRITE, session.user.role),
    }


async def _fund_page(
    request: Request,
    session: Session,
    fund_id: str,
    *,
    notice: str | None = None,
    commitment_problem: ApiProblem | None = None,
    commitment_values: Mapping[str, str] | None = None,
    valuation_problem: ApiProblem | None = None,
    valuation_values: Mapping[str, str] | None = None,
) -> Response:
    context = await _fund_context(session, fund_id)
    problem = commitment_problem or valuation_problem
    return render(
        request,
        "funds/fund.html",
        {
            **context,
            "notice": NOTICES.get(notice or ""),
            "commitment_problem": commitment_problem,
            "commitment_values": commitment_values or {},
            "valuation_problem": valuation_problem,
            "valuation_values": valuation_values or {},
        },
        user=session.user,
        status_code=page_status(problem) if problem else 200,
        title=str(context["fund"]["name"]),
    )


@router.get("/funds/{fund_id}")
async def fund_page(
    request: Request,
    session: PageUser,
    fund_id: FundId,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return await _fund_page(request, session, fund_id, notice=notice)


@router.post(
    "/funds/{fund_id}/commitments", dependencies=[CsrfChecked], openapi_extra=audited("commitment.create", "fund")
)
async def add_commitment(
    request: Request,
    session: PageUser,
    fund_id: FundId,
    investor_id: Annotated[str, Form(max_length=64)] = "",
    amount: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"investor_id": investor_id, "amount": amount}
    fund = await session.api.get(f"/api/funds/{fund_id}")
    errors: dict[str, str] = {}
    if not investor_id:
        errors["investor_id"] = "Choose an investor."
    minor = amount_or_error(amount, str(fund["currency"]), "amount", errors)
    if errors or minor is None:
        problem = form_problem(errors)
        return await _fund_page(request, session, fund_id, commitment_problem=problem, commitment_values=values)
    try:
        await session.api.send(
            "POST", f"/api/funds/{fund_id}/commitments", json={"investor_id": investor_id, "amount": minor}
        )
    except ApiProblem as problem:
        refused = unless_refused(problem)
        return await _fund_page(request, session, fund_id, commitment_problem=refused, commitment_values=values)
    return redirect(f"/funds/{fund_id}?notice=commitment#commitments")


@router.post("/funds/{fund_id}/valuations", dependencies=[CsrfChecked], openapi_extra=audited("fund.valuation", "fund"))
async def add_valuation(
    request: Request,
    session: PageUser,
    fund_id: FundId,
    as_of: Annotated[str, Form(max_length=32)] = "",
    nav: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    values = {"as_of": as_of, "nav": nav}
    fund = await session.api.get(f"/api/funds/{fund_id}")
    errors: dict[str, str] = {}
    if not as_of.strip():
        errors["as_of"] = "Enter the date the NAV is as of."
    minor = amount_or_error(nav, str(fund["currency"]), "nav", errors)
    if errors or minor is None:
        problem = form_problem(errors)
        return await _fund_page(request, session, fund_id, valuation_problem=problem, valuation_values=values)
    try:
        await session.api.send("POST", f"/api/funds/{fund_id}/valuations", json={"as_of": as_of.strip(), "nav": minor})
    except ApiProblem as problem:
        refused = unless_refused(problem)
        return await _fund_page(request, session, fund_id, valuation_problem=refused, valuation_values=values)
    return redirect(f"/funds/{fund_id}?notice=valuation#nav-marks")
