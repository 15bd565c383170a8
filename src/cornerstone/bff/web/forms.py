"""What the pages' forms share: a problem the page finds itself (shaped like the API's), the
page status of a problem, the refusals no form can answer, typed amounts, and money forms'
idempotency keys (minted when a form is rendered, kept while nothing was stored)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers

from cornerstone.bff.web.api import ApiAnswer, ApiProblem, PageApi
from cornerstone.kit.amounts import AmountError, parse_amount
from cornerstone.kit.idempotency_keys import is_valid_key
from cornerstone.kit.request_context import REQUEST_ID_HEADER, current_request_id

# How long a money form waits for the same key's first submission to finish (a double click).
IN_FLIGHT_WAIT_SECONDS = 10.0

# A refusal the form cannot help with: no session, a role the API refuses, an object it does not
# find (or another org's). The page shows the sign-in, 403 or 404 page for it, as for a read.
NOT_A_FORM_PROBLEM = frozenset({401, 403, 404})


def form_problem(
    errors: Mapping[str, str] | None = None,
    detail: str = "Some fields need another look.",
    *,
    title: str = "Check the form",
    status: int = 422,
    code: str = "VALIDATION_ERROR",
) -> ApiProblem:
    """A problem found by the page before calling the API, in the API's own shape (so the page
    shows it exactly as it shows the API's: its sentence, and each message next to its field),
    carrying this page request's id."""
    request_id = current_request_id() or ""
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": request_id,
        "errors": [{"field": f"body.{name}", "message": message} for name, message in (errors or {}).items()],
    }
    return ApiProblem(ApiAnswer(status, Headers({REQUEST_ID_HEADER: request_id}), json.dumps(body).encode()))


def page_status(problem: ApiProblem) -> int:
    """The status of a page showing ``problem`` beside its form (a 503 stays a 503)."""
    return problem.status if problem.status >= 400 else 422


def unless_refused(problem: ApiProblem) -> ApiProblem:
    """``problem`` to show beside its form; a refusal of the user (no session, a role without access)
    is raised instead, for the sign-in redirect or the 403 page."""
    if problem.status in (401, 403):
        raise problem
    return problem


def for_form(problem: ApiProblem) -> ApiProblem:
    """``problem`` to show beside its form; one no form can answer (``NOT_A_FORM_PROBLEM``) is
    raised instead, for the sign-in redirect, the 403 or the 404 page."""
    if problem.status in NOT_A_FORM_PROBLEM:
        raise problem
    return problem


def amount_or_error(text: str, currency: str, field: str, errors: dict[str, str]) -> int | None:
    """``text`` in minor units, or None with the reason in ``errors[field]``."""
    try:
        return parse_amount(text, currency)
    except AmountError as error:
        errors[field] = str(error)
        return None


def new_key() -> str:
    """A money form's idempotency key, minted when the form is rendered."""
    return uuid.uuid4().hex


def form_key(submitted: str) -> str:
    """The key a submitted money form carries: its own if it is a valid ``Idempotency-Key`` (a
    resubmission must reuse it), else a new one."""
    key = submitted.strip()
    return key if is_valid_key(key) else new_key()


def key_after(problem: ApiProblem, submitted: str, fresh: str, *, in_flight_stored: bool = False) -> str:
    """The idempotency key a money form carries after a failed submission. An outcome the API did
    not store (a 5xx, a 503, the same key still in flight) must be retried with the same key, so
    the money can move at most once; a stored refusal moved nothing, and a new key lets the
    person change the form and try again. ``in_flight_stored``: a page that does not wait for an
    in-flight key treats that refusal as any other."""
    in_flight = problem.code == "IDEMPOTENCY_IN_FLIGHT" and not in_flight_stored
    if problem.status >= 500 or in_flight or not submitted:
        return submitted or fresh
    return fresh


async def send_money(
    api: PageApi,
    path: str,
    body: Mapping[str, Any] | None,
    key: str,
    *,
    wait_seconds: float = IN_FLIGHT_WAIT_SECONDS,
) -> Any:
    """POST a money form with its key. The same form submitted twice (a double click) finds the
    first submission in flight: wait (up to ``wait_seconds``) for its outcome, which the API then
    replays."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    pause = 0.05
    while True:
        try:
            return await api.send("POST", path, json=None if body is None else dict(body), idempotency_key=key)
        except ApiProblem as problem:
            if problem.code != "IDEMPOTENCY_IN_FLIGHT" or loop.time() + pause > deadline:
                raise
        await asyncio.sleep(pause)
        pause = min(pause * 2, 0.5)
