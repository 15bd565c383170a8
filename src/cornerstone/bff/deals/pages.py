"""The deals pages of the web UI: the pipeline (board and table), a new deal, and the deal page's
core (overview and its edit form, next steps with the moves and votes they need, approvals,
history, snapshots). Every read and change goes through the public API as the signed-in user;
the deal page's other sections (materials, documents, checklist, parties, overrides) are
partials of their own, rendered from the context ``render_deal_page`` builds."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Path, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.authz.permissions import Permission, allows
from cornerstone.bff.web.api import ApiProblem, FieldError
from cornerstone.bff.web.errors import error_page
from cornerstone.bff.web.forms import amount_or_error, for_form, form_problem, page_status
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import label, money, redirect, render
from cornerstone.contracts.deals import DEAL_MONEY_FIELDS, AssetClass, Stage
from cornerstone.kit.amounts import format_amount, format_major

router = APIRouter(tags=["ui"], include_in_schema=False)

DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TYPE = re.compile(r"[a-z][a-z0-9_]{0,63}")

# The board shows every stage in the state machine's order: the acquisition pipeline, then
# ownership, then the two stages a deal can be parked in.
STAGES: tuple[Stage, ...] = tuple(Stage)
ASSET_CLASSES: tuple[AssetClass, ...] = tuple(AssetClass)
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "CHF", "JPY", "AUD")
SORTS = {"updated": "Recently updated", "name": "Name (A to Z)", "purchase_price": "Purchase price (highest first)"}
# How many deals the pipeline reads at most (the API pages by 200): enough for any one firm's
# live pipeline; past it the page says so and asks for a narrower search.
PIPELINE_CAP = 1000
_PAGE = 200
HISTORY_PAGE = 50

ADDRESS_PARTS = ("street", "city", "state", "postal_code", "country")
ADDRESS_LABELS = {
    "street": "Street",
    "city": "City",
    "state": "State",
    "postal_code": "Postal code",
    "country": "Country",
}
MONEY_LABELS = {
    "purchase_price": "Purchase price",
    "noi": "NOI",
    "loan_amount": "Loan amount",
    "equity_required": "Equity required",
}
COUNT_LABELS = {"square_feet": "Square feet", "units": "Units"}
EDIT_FIELDS = ("name", "asset_class", *DEAL_MONEY_FIELDS, *COUNT_LABELS, *ADDRESS_PARTS)

# The material types the default gates ask for, in a CRE team's words ("Add rent roll").
MATERIAL_LABELS = {
    "rent_roll": "rent roll",
    "t12": "T-12",
    "underwriting_summary": "underwriting summary",
    "ic_memo": "IC memo",
    "executed_loi": "executed LOI",
    "executed_psa": "executed PSA",
    "loan_commitment": "loan commitment",
    "all_equity_attestation": "all-equity attestation",
    "closing_statement": "closing statement",
    "wire_confirmation": "wire confirmation",
    "pm_agreement": "property management agreement",
}

# Targets a deal is paused or killed to: the move needs a reason, given in the form itself.
REASON_STAGES = frozenset({Stage.ON_HOLD.value, Stage.DEAD.value})

# What a redirect may announce; the query names a key, never the text.
NOTICES = {
    "created": "The deal was created.",
    "updated": "Your changes were saved.",
    "unchanged": "Nothing was changed.",
    "moved": "The deal moved to its new stage.",
    "approved": "Your approval was recorded.",
    "denied": "Your denial was recorded. It blocks the move until you withdraw it.",
    "withdrawn": "Your vote was withdrawn.",
    # The evidence sections' forms (materials, artifacts, checklists, parties, overrides pages).
    "material_added": "The material was added.",
    "material_verified": "The material was verified: it now counts as HUMAN.",
    "document_uploaded": "The document was uploaded.",
    "checklist_updated": "The checklist item was updated.",
    "party_added": "The party was added to the deal.",
    "override_recorded": "The override was recorded: that move may pass its gate once, in this stage.",
}


def material_label(material_type: str | None) -> str:
    if not material_type:
        return "material"
    return MATERIAL_LABELS.get(material_type, material_type.replace("_", " "))


# The fields whose values are amounts in minor units, as the API names them.
MONEY_FIELDS = frozenset({*DEAL_MONEY_FIELDS, "amount", "amounts"})
_BOUND = re.compile(r"(less than or equal to|greater than or equal to|less than|greater than) (-?[0-9]{1,30})\b")
_BOUND_WORDS = {
    "less than or equal to": "at most",
    "greater than or equal to": "at least",
    "less than": "less than",
    "greater than": "more than",
}


def in_major_units(problem: ApiProblem, currency: str) -> ApiProblem:
    """The API's range messages on money fields name minor units ("less than or equal to
    1000000000000000"); a person typed major units, so they are said in those, in the deal's
    currency ("Enter at most $10,000,000,000,000.00.")."""
    errors: list[FieldError] = []
    for error in problem.field_errors:
        bound = _BOUND.search(error.message) if error.name in MONEY_FIELDS else None
        if bound:
            limit = format_amount(int(bound.group(2)), currency)
            error = FieldError(error.field, f"Enter {_BOUND_WORDS[bound.group(1)]} {limit}.")
        errors.append(error)
    problem.field_errors = errors
    return problem


# --- the pipeline --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    stage: str
    deals: list[dict[str, Any]]

    @property
    def totals(self) -> list[str]:
        """The column's purchase prices, summed per currency (a deal without a price adds nothing)."""
        sums: dict[str, int] = {}
        for deal in self.deals:
            if deal.get("purchase_price") is not None:
                currency = str(deal.get("currency") or "USD")
                sums[currency] = sums.get(currency, 0) + int(deal["purchase_price"])
        return [money(amount, currency) for currency, amount in sorted(sums.items())]


async def _all_deals(session: Session, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], bool]:
    """Every deal the API gives for ``params``, following its cursor up to ``PIPELINE_CAP``."""
    return await session.api.get_capped("/api/deals", params, cap=PIPELINE_CAP, page_size=_PAGE)


def _sorted(deals: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    if sort == "name":
        return sorted(deals, key=lambda d: (str(d["name"]).casefold(), d["id"]))
    if sort == "purchase_price":
        # Highest first; deals without a price last.
        return sorted(deals, key=lambda d: (d.get("purchase_price") is None, -(d.get("purchase_price") or 0), d["id"]))
    return sorted(deals, key=lambda d: (str(d.get("updated_at") or ""), d["id"]), reverse=True)


@router.get("/deals")
async def pipeline(
    request: Request,
    session: PageUser,
    q: Annotated[str, Query(max_length=200)] = "",
    stage: Annotated[str, Query(max_length=32)] = "",
    asset_class: Annotated[str, Query(max_length=32)] = "",
    sort: Annotated[str, Query(max_length=32)] = "updated",
    view: Annotated[str, Query(max_length=16)] = "board",
) -> Response:
    """The pipeline: every deal the user may see, as a board by stage or as a table."""
    stage = stage if stage in {s.value for s in STAGES} else ""
    asset_class = asset_class if asset_class in {a.value for a in ASSET_CLASSES} else ""
    sort = sort if sort in SORTS else "updated"
    view = "table" if view == "table" else "board"
    query = q.strip()
    # The API filters by stage and searches name and city; it has no asset-class filter and no
    # sort order but its own (newest first), so those two are applied here, on what it returned.
    deals, capped = await _all_deals(session, {"q": query or None, "stage": stage or None})
    if asset_class:
        deals = [deal for deal in deals if deal.get("asset_class") == asset_class]
    deals = _sorted(deals, sort)
    shown_stages = [Stage(stage)] if stage else list(STAGES)
    columns = [Column(s.value, [deal for deal in deals if deal["stage"] == s.value]) for s in shown_stages]
    everything = Column("all", deals)
    filters = {"q": query, "stage": stage, "asset_class": asset_class, "sort": sort}
    kept = {k: v for k, v in filters.items() if v and not (k == "sort" and v == "updated")}
    return render(
        request,
        "deals/pipeline.html",
        {
            "deals": deals,
            "columns": columns,
            "all_totals": everything.totals,
            "filters": filters,
            "view": view,
            "capped": capped,
            "cap": PIPELINE_CAP,
            "board_href": "/deals" + (f"?{urlencode(kept)}" if kept else ""),
            "table_href": "/deals?" + urlencode({**kept, "view": "table"}),
            "stage_options": [("", "All stages"), *((s.value, label(s.value)) for s in STAGES)],
            "asset_options": [("", "All asset classes"), *((a.value, label(a.value)) for a in ASSET_CLASSES)],
            "sort_options": list(SORTS.items()),
            "can_create": allows(Permission.DEALS_WRITE, session.user.role),
            "filtered": bool(query or stage or asset_class),
        },
        user=session.user,
        title="Pipeline",
    )


# --- a new deal ----------------------------------------------------------------------------------


# A count as people type it: digits, grouped by commas in threes or not at all ("12,500", "12500").
_COUNT = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+")


def _counts(values: Mapping[str, str], errors: dict[str, str]) -> dict[str, int | None]:
    counts: dict[str, int | None] = {}
    for name, text in ((n, values.get(n, "").strip()) for n in COUNT_LABELS):
        if not text:
            counts[name] = None
        elif _COUNT.fullmatch(text) and len(text) <= 16 and 0 < int(text.replace(",", "")) <= 10**9:
            counts[name] = int(text.replace(",", ""))
        else:
            errors[name] = "Enter a whole number greater than zero, like 12,500 or 12500."
    return counts


def _amounts(values: Mapping[str, str], currency: str, errors: dict[str, str]) -> dict[str, int | None]:
    amounts: dict[str, int | None] = {}
    for name in DEAL_MONEY_FIELDS:
        text = values.get(name, "").strip()
        if not text:
            amounts[name] = None
            continue
        amount = amount_or_error(text, currency, name, errors)
        if amount is None:
            continue
        if amount <= 0:
            errors[name] = "Enter an amount greater than zero."
        else:
            amounts[name] = amount
    return amounts


def _address(values: Mapping[str, str]) -> dict[str, str | None]:
    address = {part: (values.get(part, "").strip() or None) for part in ADDRESS_PARTS}
    if address["country"]:
        address["country"] = address["country"].upper()
    return address


def _new_deal_page(
    request: Request, session: Session, values: Mapping[str, str], problem: ApiProblem | None, status_code: int = 200
) -> Response:
    return render(
        request,
        "deals/new.html",
        {
            "values": values,
            "problem": problem,
            "asset_options": [("", "Choose an asset class"), *((a.value, label(a.value)) for a in ASSET_CLASSES)],
            "currency_options": [(c, c) for c in CURRENCIES],
        },
        user=session.user,
        status_code=status_code,
        title="New deal",
    )


def _checked_fields(
    values: Mapping[str, str], currency: str, errors: dict[str, str]
) -> tuple[dict[str, int | None], dict[str, int | None]]:
    """The fields a new deal and an edit share, checked as typed: a name, a known asset class, the
    amounts in ``currency`` and the counts. Messages go into ``errors``."""
    if not values["name"].strip():
        errors["name"] = "Enter the deal's name."
    if values["asset_class"] not in {a.value for a in ASSET_CLASSES}:
        errors["asset_class"] = "Choose an asset class."
    return _amounts(values, currency, errors), _counts(values, errors)


@router.get("/deals/new")
async def new_deal_form(request: Request, session: PageUser) -> Response:
    if not allows(Permission.DEALS_WRITE, session.user.role):
        return await error_page(request, 403)
    return _new_deal_page(request, session, {"currency": "USD"}, None)


@router.post("/deals/new", dependencies=[CsrfChecked], openapi_extra=audited("deal.create", "deal"))
async def create_deal(
    request: Request,
    session: PageUser,
    name: Annotated[str, Form(max_length=400)] = "",
    asset_class: Annotated[str, Form(max_length=32)] = "",
    currency: Annotated[str, Form(max_length=8)] = "USD",
    purchase_price: Annotated[str, Form(max_length=64)] = "",
    noi: Annotated[str, Form(max_length=64)] = "",
    loan_amount: Annotated[str, Form(max_length=64)] = "",
    equity_required: Annotated[str, Form(max_length=64)] = "",
    square_feet: Annotated[str, Form(max_length=32)] = "",
    units: Annotated[str, Form(max_length=32)] = "",
    street: Annotated[str, Form(max_length=400)] = "",
    city: Annotated[str, Form(max_length=400)] = "",
    state: Annotated[str, Form(max_length=400)] = "",
    postal_code: Annotated[str, Form(max_length=64)] = "",
    country: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    values = {
        "name": name,
        "asset_class": asset_class,
        "currency": currency,
        "purchase_price": purchase_price,
        "noi": noi,
        "loan_amount": loan_amount,
        "equity_required": equity_required,
        "square_feet": square_feet,
        "units": units,
        "street": street,
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": country,
    }
    errors: dict[str, str] = {}
    if currency not in CURRENCIES:
        errors["currency"] = "Choose a currency."
        currency = "USD"
    amounts, counts = _checked_fields(values, currency, errors)
    if errors:
        return _new_deal_page(request, session, values, form_problem(errors), status_code=422)
    body: dict[str, Any] = {"name": name, "asset_class": asset_class, "currency": currency}
    body.update({k: v for k, v in {**amounts, **counts}.items() if v is not None})
    address = {k: v for k, v in _address(values).items() if v is not None}
    if address:
        body["address"] = address
    try:
        deal = await session.api.send("POST", "/api/deals", json=body)
    except ApiProblem as problem:
        problem = in_major_units(for_form(problem), currency)
        return _new_deal_page(request, session, values, problem, status_code=page_status(problem))
    return redirect(f"/deals/{deal['id']}?notice=created")


# --- the deal page -------------------------------------------------------------------------------


def _derived(deal: Mapping[str, Any]) -> dict[str, str | None]:
    """Ratios a CRE team reads first, as decimal strings for the ``percent`` filter."""
    price, noi, loan = deal.get("purchase_price"), deal.get("noi"), deal.get("loan_amount")
    return {
        "cap_rate": str(Decimal(noi) / Decimal(price)) if price and noi else None,
        "ltv": str(Decimal(loan) / Decimal(price)) if price and loan else None,
    }


def _typed(amount: int, currency: str) -> str:
    """An amount as a person types it back: ``1,250,000.50`` (grouped, no symbol)."""
    whole, _, fraction = format_major(amount, currency).partition(".")
    return f"{int(whole):,}" + (f".{fraction}" if fraction else "")


def _edit_values(deal: Mapping[str, Any]) -> dict[str, str]:
    """The edit form's fields as the deal has them (amounts as a person would type them)."""
    currency = str(deal.get("currency") or "USD")
    values: dict[str, str] = {"name": str(deal["name"]), "asset_class": str(deal["asset_class"])}
    for name in DEAL_MONEY_FIELDS:
        values[name] = _typed(int(deal[name]), currency) if deal.get(name) is not None else ""
    for name in COUNT_LABELS:
        values[name] = f"{int(deal[name]):,}" if deal.get(name) is not None else ""
    address = deal.get("address") or {}
    for part in ADDRESS_PARTS:
        values[part] = str(address.get(part) or "")
    return values


def _deal_roles(session: Session, parties: Mapping[str, Any]) -> set[str]:
    """The viewer's roles as an approval item's ``roles`` name them: the org role, and the deal role
    (``lender``) for a party."""
    roles = {session.user.role}
    for party in parties.get("items", []):
        if party.get("user_id") == session.user.user_id:
            roles.add(str(party["deal_role"]))
    return roles


def _next_steps(
    session: Session,
    deal_id: str,
    transitions: list[dict[str, Any]],
    approvals: Mapping[str, Any],
    parties: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Each edge out of the stage with what the viewer can do about it."""
    page = f"/deals/{quote(deal_id)}"
    roles = _deal_roles(session, parties)
    mine = {
        approval["to"]: approval["decision"]
        for approval in approvals.get("items", [])
        if approval.get("current") and approval.get("approver_id") == session.user.user_id
    }
    steps = []
    for option in transitions:
        target = option["to"]
        needs_reason = target in REASON_STAGES
        unmet = list(option.get("unmet", []))
        # A pause or kill is refused in the preview only for want of the reason the form asks for.
        blocking = [u for u in unmet if not (needs_reason and u.get("kind") == "field" and u.get("field") == "reason")]
        actions = []
        for item in blocking:
            kind, check = item.get("kind"), item.get("check")
            if kind == "approval" and check == "approvals":
                may_vote = bool(roles & set(item.get("roles") or ()))
                actions.append({"kind": "vote", "may_vote": may_vote, "mine": mine.get(target)})
            elif kind == "approval":
                actions.append({"kind": "link", "href": "#approvals", "text": "See the approvals"})
            elif kind == "material":
                actions.append(_material_action(page, item))
            elif kind == "check" and check == "checklist_complete":
                actions.append({"kind": "link", "href": "#checklist", "text": "Open the checklist"})
            elif kind == "check" and check == "no_unverified_ai_material":
                actions.append({"kind": "link", "href": "#materials", "text": "Review the materials"})
            elif kind == "field":
                actions.append({"kind": "link", "href": "#overview", "text": "Edit deal"})
        steps.append(
            {
                "to": target,
                "requirements": [
                    item["requirement"] for item in unmet if not (needs_reason and item.get("field") == "reason")
                ],
                # The kernel's details name fields and types in backticks (`ic_memo`): shown as words.
                "details": [str(item["detail"]).replace("`", "") for item in blocking if item.get("detail")],
                "actions": _unique(actions),
                "movable": bool(option.get("permitted")) and not blocking,
                "needs_reason": needs_reason,
                "permitted": bool(option.get("permitted")),
                "roles": option.get("roles", []),
            }
        )
    return steps


def _material_action(page: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """The link that adds the material an item asks for. It names the type, so the Materials form
    comes with it chosen; an item with alternatives is a choice between types, so the link names
    them all and the form lists each."""
    material_type = str(item.get("material_type") or "")
    choices = [material_type, *(str(other.get("material_type")) for other in item.get("alternatives") or ())]
    if len(choices) > 1:
        return {"kind": "link", "href": "#materials", "text": "Add " + " or ".join(map(material_label, choices))}
    typed = _TYPE.fullmatch(material_type)
    href = f"{page}?{urlencode({'material_type': material_type})}#materials" if typed else "#materials"
    return {"kind": "link", "href": href, "text": f"Add {material_label(material_type)}"}


def _unique(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    kept = []
    for action in actions:
        key = json.dumps(action, sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(action)
    return kept


_EVENT_WORDS = {
    "deal.created": "Created the deal",
    "deal.updated": "Changed the deal",
    "deal.transitioned": "Moved the deal",
    "deal.approval_given": "Approved a move",
    "deal.approval_denied": "Denied a move",
    "deal.approval_withdrawn": "Withdrew a vote",
    "deal.material_revised": "Added a material",
    "deal.material_verified": "Verified a material",
    "deal.checklist_instantiated": "Opened the diligence checklist",
    "deal.checklist_item_updated": "Updated a checklist item",
    "deal.party_added": "Added a party",
    "deal.override_recorded": "Recorded an override",
    "artifact.uploaded": "Uploaded a document",
}


def _event_text(event: Mapping[str, Any]) -> tuple[str, str | None]:
    """What an event did, in words, and a detail line where its payload says more."""
    kind = str(event.get("type", ""))
    payload = event.get("payload") or {}
    what = _EVENT_WORDS.get(kind, label(kind.rsplit(".", 1)[-1]))
    detail: str | None = None
    if kind == "deal.transitioned":
        what = f"Moved from {label(payload.get('from'))} to {label(payload.get('to'))}"
        detail = f"Reason: {payload['reason']}" if payload.get("reason") else None
    elif kind == "deal.updated":
        changed = sorted((payload.get("changes") or {}).keys())
        detail = "Changed: " + ", ".join(_field_label(name) for name in changed) if changed else None
    elif kind in ("deal.approval_given", "deal.approval_denied") and payload.get("to"):
        verb = "Approved" if kind.endswith("given") else "Denied"
        what = f"{verb} the move to {label(payload.get('to'))}"
        detail = f"Comment: {payload['comment']}" if payload.get("comment") else None
    elif kind == "deal.material_revised" and payload.get("type"):
        what = f"Added {material_label(str(payload.get('type')))}"
        if payload.get("truth_class"):
            detail = f"Truth class: {payload['truth_class']}"
    elif kind == "deal.party_added" and payload.get("deal_role"):
        detail = f"As {label(str(payload['deal_role']))}"
    return what, detail


def _field_label(name: str) -> str:
    return {**MONEY_LABELS, **COUNT_LABELS, **ADDRESS_LABELS}.get(name, label(name))


def _history_items(history: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = []
    for event in history.get("items", []):
        what, detail = _event_text(event)
        items.append({**event, "what": what, "detail": detail})
    return items


@dataclass(frozen=True, slots=True)
class ConflictField:
    """A field someone else changed while the person had the edit form open."""

    label: str
    now: str
    yours: str | None  # what the person entered, where they changed the same field


def _shown(deal: Mapping[str, Any], name: str, text: str) -> str:
    if not text:
        return "—"
    if name in DEAL_MONEY_FIELDS:
        return money(deal.get(name), str(deal.get("currency") or "USD"))
    if name == "asset_class":
        return label(text)
    return text


def _merge_conflict(
    deal: Mapping[str, Any], submitted: Mapping[str, str], original: Mapping[str, str] | None
) -> tuple[dict[str, str], list[ConflictField]]:
    """After a version conflict: the form on the fresh version, keeping what the person changed and
    taking everyone else's changes, and the list of fields that changed under them. Without the
    values the form was opened with, every difference from the current deal is listed and the
    person's entries are kept."""
    current = _edit_values(deal)
    merged: dict[str, str] = {}
    changed: list[ConflictField] = []
    for name in EDIT_FIELDS:
        now, entered = current.get(name, ""), submitted.get(name, "").strip()
        if original is None:
            merged[name] = submitted.get(name, "")
            if entered != now:
                changed.append(ConflictField(_field_label(name), _shown(deal, name, now), entered or "—"))
            continue
        was = str(original.get(name, ""))
        mine = entered != was
        merged[name] = submitted.get(name, "") if mine else now
        if now != was:
            changed.append(
                ConflictField(_field_label(name), _shown(deal, name, now), (entered or "—") if mine else None)
            )
    return merged, changed


# The rendered form's values fit in far less (13 fields); anything longer was not rendered here.
ORIGINAL_MAX = 6000


def _original_values(text: str) -> dict[str, str] | None:
    """The edit form's values as it was rendered (a hidden field): a flat JSON object of the
    form's own fields, each a string, a number or null. Anything else (too long, not an object,
    nested, other keys, unreadable) is ignored, as if the form had not carried it."""
    text = text.strip()
    # Only an object is read at all; one nested deeper than the parser goes is a RecursionError.
    if not text.startswith("{") or len(text) > ORIGINAL_MAX:
        return None
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(parsed, dict) or not set(parsed) <= set(EDIT_FIELDS):
        return None
    values: dict[str, str] = {}
    for name, value in parsed.items():
        if value is None:
            values[name] = ""
        elif isinstance(value, str) or (isinstance(value, int | float) and not isinstance(value, bool)):
            values[name] = str(value)
        else:
            return None
    return values


async def render_deal_page(
    request: Request,
    session: Session,
    deal_id: str,
    *,
    problem: ApiProblem | None = None,
    problem_section: str | None = None,
    notice: str | None = None,
    status_code: int = 200,
    form_values: Mapping[str, str] | None = None,
    edit_original: Mapping[str, str] | None = None,
) -> Response:
    """The deal page. Each section's data is the API's JSON as returned: ``deal``, ``transitions``,
    ``approvals``, ``materials``, ``artifacts``, ``checklist``, ``parties``, ``history``; a
    problem is shown at the top of ``problem_section`` (``overview``, ``next-steps``,
    ``approvals``, or a partial's own), and ``form_values`` refill that section's form."""
    history_after = request.query_params.get("history_after")
    if history_after is not None and not (
        history_after.isascii() and history_after.isdigit() and len(history_after) <= 18
    ):
        history_after = None
    base = f"/api/deals/{deal_id}"
    reads: list[tuple[str, Mapping[str, Any] | None]] = [
        (base, None),
        (f"{base}/transitions", None),
        (f"{base}/approvals", None),
        (f"{base}/materials", None),
        (f"{base}/artifacts", None),
        (f"{base}/checklist", None),
        (f"{base}/parties", None),
        (f"{base}/history", {"limit": HISTORY_PAGE, "cursor": history_after}),
    ]
    # Who is who: an admin may read the org's users, so the page can name them; others see roles.
    if allows(Permission.USERS_READ, session.user.role):
        reads.append(("/api/users", None))
    deal, transitions, approvals, materials, artifacts, checklist, parties, history, *more = await session.api.get_many(
        *reads
    )
    users = more[0] if more else None
    values = dict(form_values or {})
    conflict = problem is not None and problem.code == "VERSION_CONFLICT" and problem_section == "overview"
    conflict_values: list[ConflictField] = []
    if conflict:
        edit_values, conflict_values = _merge_conflict(deal, values, edit_original)
    elif problem_section == "overview":
        edit_values = {**_edit_values(deal), **values}
    else:
        edit_values = _edit_values(deal)
    next_cursor = history.get("next_cursor")
    return render(
        request,
        "deals/deal.html",
        {
            "deal": deal,
            "transitions": transitions,
            "approvals": approvals,
            "materials": materials,
            "artifacts": artifacts,
            "checklist": checklist,
            "parties": parties,
            "history": history,
            "users": users,
            "problem": problem,
            "problem_section": problem_section,
            "notice": notice,
            "form_values": values,
            # This page's own helpers.
            "steps": _next_steps(session, deal_id, transitions, approvals, parties),
            "history_items": _history_items(history),
            "history_more": f"/deals/{quote(deal_id)}?history_after={quote(str(next_cursor))}#history"
            if next_cursor
            else None,
            "history_paged": history_after is not None,
            "edit_values": edit_values,
            "conflict_values": conflict_values,
            # What the edit form was rendered from, so a later conflict can tell whose change is whose.
            "edit_original": json.dumps(_edit_values(deal), separators=(",", ":")),
            "conflict": conflict,
            "derived": _derived(deal),
            "asset_options": [(a.value, label(a.value)) for a in ASSET_CLASSES],
            "money_labels": MONEY_LABELS,
            "count_labels": COUNT_LABELS,
            "address_labels": ADDRESS_LABELS,
            "material_label": material_label,
            "can_edit": allows(Permission.DEALS_WRITE, session.user.role),
            "can_vote": allows(Permission.APPROVALS_WRITE, session.user.role),
            "can_evidence_pack": allows(Permission.EVIDENCE_PACK_READ, session.user.role),
            "me": session.user.user_id,
        },
        user=session.user,
        status_code=status_code,
        title=str(deal["name"]),
    )


@router.get("/deals/{deal_id}")
async def deal_page(
    request: Request,
    session: PageUser,
    deal_id: DealId,
    notice: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    return await render_deal_page(request, session, deal_id, notice=NOTICES.get(notice or ""))


@router.post("/deals/{deal_id}/edit", dependencies=[CsrfChecked], openapi_extra=audited("deal.update", "deal"))
async def edit_deal(
    request: Request,
    session: PageUser,
    deal_id: DealId,
    version: Annotated[str, Form(max_length=20)] = "",
    currency: Annotated[str, Form(max_length=8)] = "USD",
    name: Annotated[str, Form(max_length=400)] = "",
    asset_class: Annotated[str, Form(max_length=32)] = "",
    purchase_price: Annotated[str, Form(max_length=64)] = "",
    noi: Annotated[str, Form(max_length=64)] = "",
    loan_amount: Annotated[str, Form(max_length=64)] = "",
    equity_required: Annotated[str, Form(max_length=64)] = "",
    square_feet: Annotated[str, Form(max_length=32)] = "",
    units: Annotated[str, Form(max_length=32)] = "",
    street: Annotated[str, Form(max_length=400)] = "",
    city: Annotated[str, Form(max_length=400)] = "",
    state: Annotated[str, Form(max_length=400)] = "",
    postal_code: Annotated[str, Form(max_length=64)] = "",
    country: Annotated[str, Form(max_length=16)] = "",
    original: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    values = {
        "name": name,
        "asset_class": asset_class,
        "purchase_price": purchase_price,
        "noi": noi,
        "loan_amount": loan_amount,
        "equity_required": equity_required,
        "square_feet": square_feet,
        "units": units,
        "street": street,
        "city": city,
        "state": state,
        "postal_code": postal_code,
        "country": country,
    }
    errors: dict[str, str] = {}
    # Amounts are read in the deal's currency, which the form carries as it rendered it.
    currency = currency if re.fullmatch(r"[A-Z]{3}", currency) else "USD"
    amounts, counts = _checked_fields(values, currency, errors)
    if not (version.isascii() and version.isdigit() and 0 < len(version) <= 12):
        errors["version"] = "The form is out of date: reload the page."
    if errors:
        return await render_deal_page(
            request,
            session,
            deal_id,
            problem=form_problem(errors),
            problem_section="overview",
            status_code=422,
            form_values=values,
        )
    # Every field the form shows is sent: an emptied amount or count clears it, and the address
    # is replaced as a whole (the API's PATCH rule).
    body: dict[str, Any] = {"version": int(version), "name": name, "asset_class": asset_class, **amounts, **counts}
    body["address"] = _address(values)
    try:
        saved = await session.api.send("PATCH", f"/api/deals/{deal_id}", json=body)
    except ApiProblem as problem:
        problem = in_major_units(for_form(problem), currency)
        return await render_deal_page(
            request,
            session,
            deal_id,
            problem=problem,
            problem_section="overview",
            status_code=page_status(problem),
            form_values=values,
            edit_original=_original_values(original),
        )
    notice = "unchanged" if saved.get("version") == int(version) else "updated"
    return redirect(f"/deals/{deal_id}?notice={notice}#overview")


@router.post("/deals/{deal_id}/move", dependencies=[CsrfChecked], openapi_extra=audited("deal.transition", "deal"))
async def move_deal(
    request: Request,
    session: PageUser,
    deal_id: DealId,
    to: Annotated[str, Form(max_length=32)] = "",
    version: Annotated[str, Form(max_length=20)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if to not in {s.value for s in STAGES} or not (version.isascii() and version.isdigit() and 0 < len(version) <= 12):
        problem = form_problem({"to": "Choose one of the moves listed."}, "The form is out of date: reload the page.")
        return await render_deal_page(
            request, session, deal_id, problem=problem, problem_section="next-steps", status_code=422
        )
    body: dict[str, Any] = {"to": to, "version": int(version)}
    if reason.strip():
        body["reason"] = reason.strip()
    try:
        await session.api.send("POST", f"/api/deals/{deal_id}/transitions", json=body)
    except ApiProblem as problem:
        for_form(problem)
        return await render_deal_page(
            request,
            session,
            deal_id,
            problem=problem,
            problem_section="next-steps",
            status_code=page_status(problem),
            form_values={"to": to, "reason": reason},
        )
    return redirect(f"/deals/{deal_id}?notice=moved#next-steps")


@router.post("/deals/{deal_id}/approvals", dependencies=[CsrfChecked], openapi_extra=audited("deal.approval", "deal"))
async def vote(
    request: Request,
    session: PageUser,
    deal_id: DealId,
    to: Annotated[str, Form(max_length=32)] = "",
    decision: Annotated[str, Form(max_length=16)] = "",
    comment: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if to not in {s.value for s in STAGES} or decision not in ("approve", "deny"):
        problem = form_problem({"decision": "Choose Approve or Deny."}, "The vote was not understood.")
        return await render_deal_page(
            request, session, deal_id, problem=problem, problem_section="next-steps", status_code=422
        )
    body: dict[str, Any] = {"to": to, "decision": decision}
    if comment.strip():
        body["comment"] = comment.strip()
    try:
        await session.api.send("POST", f"/api/deals/{deal_id}/approvals", json=body)
    except ApiProblem as problem:
        for_form(problem)
        return await render_deal_page(
            request,
            session,
            deal_id,
            problem=problem,
            problem_section="next-steps",
            status_code=page_status(problem),
            form_values={"to": to, "comment": comment},
        )
    notice = "approved" if decision == "approve" else "denied"
    return redirect(f"/deals/{deal_id}?notice={notice}#next-steps")


@router.post(
    "/approvals/{approval_id}/withdraw",
    dependencies=[CsrfChecked],
    openapi_extra=audited("deal.approval_withdraw", "approval"),
)
async def withdraw(
    request: Request,
    session: PageUser,
    approval_id: DealId,
    deal_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    if not _ID.fullmatch(deal_id):
        return await error_page(request, 404)
    try:
        await session.api.send("POST", f"/api/approvals/{approval_id}/withdraw")
    except ApiProblem as problem:
        for_form(problem)
        return await render_deal_page(
            request, session, deal_id, problem=problem, problem_section="approvals", status_code=page_status(problem)
        )
    return redirect(f"/deals/{deal_id}?notice=withdrawn#approvals")


# --- snapshots -----------------------------------------------------------------------------------


def _instant_text(value: str) -> str:
    """A snapshot's instant to the second (and millisecond where it has one): ``2026-05-01 14:30:05 UTC``."""
    instant = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    text = instant.strftime("%Y-%m-%d %H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond // 1000:03d}"
    return f"{text} UTC"


def _local_value(instant: datetime) -> str:
    """An instant as a ``datetime-local`` field shows it (UTC, to the millisecond where it has one)."""
    text = instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds")
    return text.removesuffix(".000")


@router.get("/deals/{deal_id}/snapshot")
async def snapshot(
    request: Request,
    session: PageUser,
    deal_id: DealId,
    at: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    """The deal as it stood at an instant. The form's ``datetime-local`` value has no offset; it is
    read as UTC (and the page says so)."""
    problem: ApiProblem | None = None
    instant: datetime | None = None
    text = at.strip()
    if text:
        try:
            parsed = datetime.fromisoformat(text)
            # An offset can carry the first or last day of the calendar past its end (OverflowError).
            instant = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            problem = form_problem({"at": "Enter a date and time, like 2026-05-01 14:30."})
    snap: dict[str, Any] | None = None
    if problem is None:
        params = {"at": instant.isoformat().replace("+00:00", "Z")} if instant else None
        try:
            snap = await session.api.get(f"/api/deals/{deal_id}/snapshot", params)
        except ApiProblem as refused:
            if refused.status != 422:
                raise
            problem = refused
    deal = snap["deal"] if snap else await session.api.get(f"/api/deals/{deal_id}")
    return render(
        request,
        "deals/snapshot.html",
        {
            "deal": deal,
            "snapshot": snap,
            "problem": problem,
            "at": _local_value(instant) if instant else text,
            "at_text": _instant_text(snap["at"]) if snap else "",
            "material_label": material_label,
        },
        user=session.user,
        status_code=problem.status if problem else 200,
        title=f"{deal['name']} — snapshot",
    )
