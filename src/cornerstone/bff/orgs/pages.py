"""The settings page (``/admin/settings``): the org's gate thresholds from ``/api/org/settings``.
The firm's roles may read them; only an admin changes them (the API refuses anyone else), and
the IC quorum can only be tightened, never set below the default."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.users.pages import NOT_SAVED, sentence
from cornerstone.bff.web.api import ApiProblem
from cornerstone.bff.web.forms import form_problem, unless_refused
from cornerstone.bff.web.session import CsrfChecked, PageUser, Session
from cornerstone.bff.web.templating import redirect, render
from cornerstone.contracts.evidence import DEFAULT_IC_QUORUM

router = APIRouter(tags=["ui"], include_in_schema=False)

_NOTICES = {"saved": "Settings saved. Gates use the new IC quorum from now on."}


async def _settings_page(
    request: Request,
    session: Session,
    *,
    notice: str | None = None,
    problem: ApiProblem | None = None,
    typed: str | None = None,
    status_code: int = 200,
) -> Response:
    settings: dict[str, Any] = await session.api.get("/api/org/settings")
    return render(
        request,
        "admin/settings.html",
        {
            "settings": settings,
            "default_quorum": DEFAULT_IC_QUORUM,
            "typed": typed if typed is not None else str(settings["ic_quorum"]),
            "notice": _NOTICES.get(notice or ""),
            "problem": problem,
        },
        user=session.user,
        status_code=status_code,
        title="Settings",
    )


@router.get("/admin/settings")
async def settings_page(
    request: Request, session: PageUser, notice: Annotated[str | None, Query(max_length=32)] = None
) -> Response:
    return await _settings_page(request, session, notice=notice)


@router.post("/admin/settings", dependencies=[CsrfChecked], openapi_extra=audited("org.settings", "org"))
async def save_settings(
    request: Request, session: PageUser, ic_quorum: Annotated[str, Form(max_length=32)] = ""
) -> Response:
    typed = ic_quorum.strip()
    if not typed.isdigit():
        problem = form_problem(
            {"ic_quorum": "Enter a whole number of approvals, such as 3."}, "Nothing was saved.", title=NOT_SAVED
        )
        return await _settings_page(request, session, problem=problem, typed=typed[:32], status_code=422)
    try:
        await session.api.send("PATCH", "/api/org/settings", json={"ic_quorum": int(typed)})
    except ApiProblem as problem:
        message = unless_refused(problem).for_field("ic_quorum")
        if message is not None:
            # The API's refusal, said plainly next to the field.
            if _refused_as_too_low(problem):
                refusal = f"Refused: the IC quorum is only ever raised, never below {DEFAULT_IC_QUORUM}."
            else:
                refusal = f"Refused: {sentence(message).rstrip('.')}."
            problem = form_problem(
                {"ic_quorum": refusal},
                "The API refused this value; nothing was saved.",
                title=NOT_SAVED,
                status=problem.status,
            )
        return await _settings_page(request, session, problem=problem, typed=typed, status_code=problem.status)
    return redirect("/admin/settings?notice=saved")


def _refused_as_too_low(problem: ApiProblem) -> bool:
    errors = problem.body.get("errors")
    return isinstance(errors, list) and any(
        isinstance(e, dict) and str(e.get("field", "")).endswith("ic_quorum") and e.get("type") == "greater_than_equal"
        for e in errors
    )


def _duration(seconds: float) -> str:
    """``93784`` -> ``1 d 2 h 3 min``; under a minute, seconds."""
    whole = int(seconds)
    if whole < 60:
        return f"{whole} s"
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [f"{days} d" if days else "", f"{hours} h" if hours or days else "", f"{minutes} min"]
    return " ".join(part for part in parts if part)


@router.get("/admin/status")
async def status_page(request: Request, session: PageUser) -> Response:
    """Version, uptime and each dependency's reachability, as ``/api/debug/status`` measured it now."""
    status: dict[str, Any] = await session.api.get("/api/debug/status")
    return render(
        request,
        "admin/status.html",
        {"status": status, "uptime": _duration(float(status["uptime_seconds"]))},
        user=session.user,
        title="System status",
    )
