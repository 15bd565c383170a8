"""The LP portal: the signed-in lp's positions in every fund (``/portfolio``), a statement of one
fund as of a date (``/portfolio/statement``) and the same statement as CSV.

Every figure is the API's: ``GET /api/portfolio`` (lp only: any other role gets the 403 page) and
``GET /api/investors/{own investor}/statement`` (an lp reaches only their own investor). The
charts over time are drawn from the statement's dated ledger entries and from the statement's
capital account read as of each quarter end.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from cornerstone.bff.web.api import PageApi
from cornerstone.bff.web.charts import Series, bar_chart, legend, line_chart
from cornerstone.bff.web.session import PageUser
from cornerstone.bff.web.templating import money, render
from cornerstone.kit.amounts import format_major

router = APIRouter(tags=["ui"], include_in_schema=False)

FundQuery = Annotated[str | None, Query(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
AsOfQuery = Annotated[str | None, Query(max_length=32)]

# How many quarter ends the capital-account chart reads back from today.
QUARTERS_SHOWN = 8
# A cell a spreadsheet would run as a formula starts with one of these; such cells get a leading '.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = ("fund", "investor", "as_of", "date", "item", "amount", "currency", "reference")


def quarter_end(day: date) -> date:
    month = ((day.month - 1) // 3 + 1) * 3
    first_of_next = date(day.year + (month == 12), month % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def quarter_label(day: date) -> str:
    return f"{day.year} Q{(day.month - 1) // 3 + 1}"


def quarter_ends(first: date, today: date, limit: int = QUARTERS_SHOWN) -> list[date]:
    """The quarter ends from ``first``'s quarter up to before ``today``, the last ``limit`` of them."""
    ends: list[date] = []
    end = quarter_end(first)
    while end < today:
        ends.append(end)
        end = quarter_end(end + timedelta(days=1))
    return ends[-limit:]


def _flows_by_quarter(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Contributions and distributions summed per quarter, oldest first."""
    quarters: dict[str, dict[str, Any]] = {}
    for entry in entries:
        on = date.fromisoformat(entry["on"])
        row = quarters.setdefault(
            quarter_label(on),
            {"label": quarter_label(on), "end": quarter_end(on), "contribution": 0, "distribution": 0},
        )
        row[entry["kind"]] = row.get(entry["kind"], 0) + int(entry["amount"])
    return sorted(quarters.values(), key=lambda row: row["end"])


async def _statement(api: PageApi, investor_id: str, fund_id: str, as_of: date) -> Any:
    return await api.get(f"/api/investors/{investor_id}/statement", {"fund_id": fund_id, "as_of": as_of.isoformat()})


async def _fund_history(api: PageApi, investor_id: str, account: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The fund's dated flows (bar chart by quarter), the capital account at each quarter end and
    today (line chart), and the ledger entries themselves."""
    fund_id, currency = account["fund_id"], account["currency"]
    current = await _statement(api, investor_id, fund_id, today)
    entries = current["entries"]
    fmt = lambda value: money(value, currency)  # noqa: E731 - a one-line formatter for the charts
    flows = _flows_by_quarter(entries)
    history: list[dict[str, Any]] = []
    if entries:
        first = min(date.fromisoformat(entry["on"]) for entry in entries)
        ends = quarter_ends(first, today)
        past = await api.get_many(
            *(
                (f"/api/investors/{investor_id}/statement", {"fund_id": fund_id, "as_of": end.isoformat()})
                for end in ends
            )
        )
        for end, statement in [*zip(ends, past, strict=True), (today, current)]:
            point = statement["account"]
            history.append(
                {
                    "label": end.isoformat(),
                    "short": "Today" if end == today else quarter_label(end),
                    "contributed": int(point["contributed"]),
                    "distributed": int(point["distributed"]),
                    "nav": int(point["nav"]) if point["nav"] is not None else None,
                }
            )
    flow_series = [
        Series("Contributions", [row["contribution"] for row in flows]),
        Series("Distributions", [row["distribution"] for row in flows]),
    ]
    value_series = [
        Series("Contributed to date", [row["contributed"] for row in history]),
        Series("Distributed to date", [row["distributed"] for row in history]),
        Series("NAV", [row["nav"] or 0 for row in history]),
    ]
    suffix = re.sub(r"[^A-Za-z0-9_-]", "", fund_id)
    return {
        "account": account,
        "entries": entries,
        "flows": flows,
        "history": history,
        "flows_chart": bar_chart(
            f"Contributions and distributions by quarter — {account['fund_name']}",
            [row["label"] for row in flows],
            flow_series,
            fmt,
            chart_id=f"flows-{suffix}",
        )
        if flows
        else None,
        "flows_legend": legend(flow_series),
        "history_chart": line_chart(
            f"Contributed, distributed and NAV over time — {account['fund_name']}",
            [row["short"] for row in history],
            value_series,
            fmt,
            chart_id=f"history-{suffix}",
        )
        if history
        else None,
        "history_legend": legend(value_series),
    }


@router.get("/portfolio")
async def portfolio_page(request: Request, session: PageUser) -> Response:
    portfolio = await session.api.get("/api/portfolio")
    today = date.today()
    investor_id = str(portfolio["investor_id"])
    funds = [await _fund_history(session.api, investor_id, account, today) for account in portfolio["funds"]]
    # The lp's own share of each issued call (newest first), shown under its fund.
    calls = [call async for page in session.api.pages("/api/portfolio/capital-calls") for call in page]
    for fund in funds:
        fund["calls"] = [call for call in calls if call["fund_id"] == fund["account"]["fund_id"]]
    return render(
        request, "portfolio/portfolio.html", {"funds": funds, "today": today}, user=session.user, title="Portfolio"
    )


def _as_of(text: str | None) -> date | None:
    if not text or not text.strip():
        return date.today()
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


@router.get("/portfolio/statement")
async def statement_page(
    request: Request, session: PageUser, fund_id: FundQuery = None, as_of: AsOfQuery = None
) -> Response:
    portfolio = await session.api.get("/api/portfolio")
    funds = portfolio["funds"]
    chosen = fund_id or (funds[0]["fund_id"] if funds else None)
    day = _as_of(as_of)
    statement = investor = None
    if chosen is not None and day is not None:
        investor_id = str(portfolio["investor_id"])
        statement, investor = await session.api.get_many(
            (f"/api/investors/{investor_id}/statement", {"fund_id": chosen, "as_of": day.isoformat()}),
            (f"/api/investors/{investor_id}", None),
        )
    fund_name = (
        statement["account"]["fund_name"]
        if statement
        else next((f["fund_name"] for f in funds if f["fund_id"] == chosen), "your funds")
    )
    return render(
        request,
        "portfolio/statement.html",
        {
            "funds": funds,
            "fund_id": chosen,
            "fund_name": fund_name,
            "as_of_text": (as_of or "") if day is None else day.isoformat(),
            "as_of_error": "Enter the date as YYYY-MM-DD." if day is None else None,
            "statement": statement,
            "investor": investor,
        },
        user=session.user,
        status_code=422 if day is None else 200,
        title=f"Statement — {fund_name}",
    )


def csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading '."""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def statement_csv(statement: Mapping[str, Any], investor_name: str) -> str:
    """The statement as CSV: its ledger entries, then the capital account's money figures as of its
    date; amounts in major units (``1250000.50``) with the currency beside them."""
    account = statement["account"]
    currency, fund, as_of = account["currency"], account["fund_name"], statement["as_of"]
    rows: list[tuple[str, ...]] = [CSV_COLUMNS]
    for entry in statement["entries"]:
        rows.append(
            (
                fund,
                investor_name,
                as_of,
                entry["on"],
                str(entry["kind"]).capitalize(),
                format_major(int(entry["amount"]), currency),
                currency,
                f"{entry['source_type']} {entry['source_id']}",
            )
        )
    for item, key in (
        ("Committed", "committed"),
        ("Contributed", "contributed"),
        ("Unfunded", "unfunded"),
        ("Distributed", "distributed"),
        ("NAV", "nav"),
    ):
        if account.get(key) is not None:
            rows.append(
                (fund, investor_name, as_of, as_of, item, format_major(int(account[key]), currency), currency, "")
            )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([csv_safe(cell) for cell in row])
    return out.getvalue()


def _filename(fund_name: str, as_of: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", fund_name).strip("-").lower()[:60] or "fund"
    return f"statement-{slug}-{re.sub(r'[^0-9-]', '', as_of)}.csv"


@router.get("/portfolio/statement.csv")
async def statement_download(
    request: Request, session: PageUser, fund_id: FundQuery = None, as_of: AsOfQuery = None
) -> Response:
    portfolio = await session.api.get("/api/portfolio")
    funds = portfolio["funds"]
    chosen = fund_id or (funds[0]["fund_id"] if funds else None)
    day = _as_of(as_of)
    if chosen is None or day is None:
        return await statement_page(request, session, fund_id, as_of)
    investor_id = str(portfolio["investor_id"])
    statement, investor = await session.api.get_many(
        (f"/api/investors/{investor_id}/statement", {"fund_id": chosen, "as_of": day.isoformat()}),
        (f"/api/investors/{investor_id}", None),
    )
    body = statement_csv(statement, str(investor["name"]))
    filename = _filename(statement["account"]["fund_name"], statement["as_of"])
    return Response(
        body.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )
