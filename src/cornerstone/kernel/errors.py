"""Kernel-specific errors (the shared taxonomy lives in ``cornerstone.kit.problems``)."""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from sqlalchemy.exc import DataError
from starlette.responses import Response

from cornerstone.kit.middleware import loggable_path
from cornerstone.kit.problems import Conflict, NotFound, ValidationFailed, app_error_response

log = structlog.get_logger("cornerstone.kernel")


class DealTransitionNotAllowed(Conflict):
    """The move (or the approval or override of one) is not an edge of the deal state machine out of the deal's current
    stage (docs/STATE_MACHINE.md)."""

    code = "DEAL_TRANSITION_NOT_ALLOWED"
    title = "Transition not allowed"


class DealGuardFailed(Conflict):
    """The move is an edge of the state machine, but its gate is not met: ``unmet`` lists each missing requirement
    (docs/API.md gives their shape)."""

    code = "DEAL_GUARD_FAILED"
    title = "Gate requirements not met"


class DealNotFound(NotFound):
    """No deal with this id visible to the caller (an external user sees only the deals they are a party to)."""

    code = "DEAL_NOT_FOUND"
    title = "Deal not found"

    def __init__(self) -> None:
        super().__init__("No deal with this id.")


def install_data_error_handler(app: FastAPI) -> None:
    """A value the database refuses (SQLSTATE class 22, "data exception": a NUL in text on
    PostgreSQL, a number out of a column's range, an unencodable character) is the client's bad
    input, not the kernel failing: a 422 problem, never a 500. The schemas refuse what they know of
    first (the text rule, ranges), so this is the net under them; the transaction was rolled back.
    Only the SQLSTATE is logged, never the statement or its values."""

    async def on_data_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DataError)
        sqlstate = getattr(exc.orig, "sqlstate", None)
        log.warning("database_refused_value", sqlstate=sqlstate, path=loggable_path(request.scope))
        detail = "A value in the request cannot be stored."
        return app_error_response(
            ValidationFailed(
                detail, extra={"errors": [{"field": "request", "message": detail, "type": "unstorable_value"}]}
            )
        )

    app.add_exception_handler(DataError, on_data_error)
