"""Pure ASGI rate limiting: every request but the probes spends a budget; over it is a 429 problem.

- A signed-in caller (verified token) spends the per-user budget ``"default"``; anyone else the
  same-sized budget of their client address.
- ``POST /api/auth/token`` spends the tighter ``"login"`` budget of the client address instead,
  and each attempt first reserves one unit of the named account's failure budget: an answer other
  than 401 gives it back, a 401 keeps it. A success therefore never wipes out failures already
  counted (an attacker's budget is not reset by the victim signing in), and an exhausted account
  is refused before its password is checked - the same 429 whether the email exists or not,
  whichever address the attempt comes from, correct password or not.
- Every limited response carries ``RateLimit-Policy`` and ``RateLimit`` of the budget it spent;
  a 429 carries those of the budget that refused it (``"account"`` for a throttled account,
  identical for every email) and ``Retry-After``, and counts in
  ``cornerstone_rate_limited_total{policy}`` under that budget's name. ``/healthz``, ``/readyz``,
  ``/metrics`` (a scraper with its own token, no user) and ``/api/openapi.json`` are not limited.

This layer sits inside the audit layer, so a refused mutating request still leaves exactly one
audit record, named after the route it was for (``annotate_route``) and, for a signed-in
caller, the verified token's user.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.bff.ratelimit.identity import (
    VerifiedCaller,
    account_identity,
    client_identity,
    verified_caller,
)
from cornerstone.bff.ratelimit.policies import Decision, RateLimiter
from cornerstone.bff.web.api import IN_PROCESS_SCOPE_KEY
from cornerstone.kit.metrics import RATE_LIMITED
from cornerstone.kit.problems import AppError, app_error_response
from cornerstone.kit.request_body import PayloadTooLarge
from cornerstone.kit.route_lookup import annotate_route

EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/api/openapi.json", "/favicon.ico"})
EXEMPT_PREFIX = "/static/"
LOGIN_PATH = "/api/auth/token"
# A sign-in body is an email (<= 254) and a password (<= 1024). One much larger is refused here
# rather than skipped: padding must not hide the account from its failure budget.
LOGIN_BODY_LIMIT = 16 * 1024


class RateLimited(AppError):
    """Too many requests from this caller or address for this kind of route; wait ``Retry-After`` seconds."""

    status = 429
    code = "RATE_LIMITED"
    title = "Too many requests"


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["path"] in EXEMPT_PATHS
            or scope["path"].startswith(EXEMPT_PREFIX)
            or scope.get(IN_PROCESS_SCOPE_KEY)
        ):
            # In-process: an API call a page made for its signed-in user, whose page request was counted.
            # Static files: the stylesheets and script every page loads are not requests a person makes.
            await self.app(scope, receive, send)
            return
        if scope["method"] == "POST" and scope["path"] == LOGIN_PATH:
            await self._sign_in(scope, receive, send)
            return
        caller = verified_caller(scope)
        identity = f"user:{caller.user_id}" if caller else client_identity(scope)
        decision = await self.limiter.hit(self.limiter.default, identity)
        if not decision.allowed:
            detail = f"Too many requests; retry in {decision.reset_after} seconds."
            await _refuse(scope, receive, send, decision, detail, caller)
            return
        await self.app(scope, receive, _with_headers(send, decision))

    async def _sign_in(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = await self.limiter.hit(self.limiter.login, client_identity(scope))
        if not decision.allowed:
            await _refuse(scope, receive, send, decision, _SIGN_IN_THROTTLED, None)
            return
        body = await _read_bounded(scope, receive)
        if body is None:
            await _respond(scope, receive, send, PayloadTooLarge("A sign-in body is a few hundred bytes."), decision)
            return
        replay = _replay(body, receive)
        account = account_identity(body)
        if account is None:
            await self.app(scope, replay, _with_headers(send, decision))
            return
        reservation = await self.limiter.hit(self.limiter.account, account)
        if not reservation.allowed:
            await self.limiter.give_back(self.limiter.account, account)
            await _refuse(scope, receive, send, reservation, _SIGN_IN_THROTTLED, None)
            return
        outcome = {"status": 500}
        headers_send = _with_headers(send, decision)

        async def observe(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = int(message["status"])
            await headers_send(message)

        try:
            await self.app(scope, replay, observe)
        finally:
            if outcome["status"] != 401:
                await self.limiter.give_back(self.limiter.account, account)


_SIGN_IN_THROTTLED = "Too many sign-in attempts; retry later."


def _with_headers(send: Send, decision: Decision) -> Send:
    extra = decision.headers()

    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", ()), *extra]
        await send(message)

    return send_with_headers


async def _respond(scope: Scope, receive: Receive, send: Send, error: AppError, decision: Decision) -> None:
    annotate_route(scope)
    response = app_error_response(error)
    if isinstance(error, PayloadTooLarge):
        response.headers["Connection"] = "close"  # the rest of the body is never read
    await response(scope, receive, _with_headers(send, decision))


async def _refuse(
    scope: Scope,
    receive: Receive,
    send: Send,
    decision: Decision,
    detail: str,
    caller: VerifiedCaller | None,
) -> None:
    """A 429 for the budget ``decision`` found spent; its fields are the ones sent."""
    if caller is not None:
        # Read by the audit layer: the refusal is attributed to the token's (verified) user.
        state = scope.setdefault("state", {})
        state["audit"] = {
            **state.get("audit", {}),
            "org_id": caller.org_id,
            "actor_id": caller.user_id,
            "actor_role": caller.role(),
        }
    error = RateLimited(detail, headers={"Retry-After": str(decision.reset_after)})
    RATE_LIMITED.labels(decision.policy.name).inc()
    await _respond(scope, receive, send, error, decision)


async def _read_bounded(scope: Scope, receive: Receive) -> bytes | None:
    """The whole request body, or ``None`` if it is (or says it is) over ``LOGIN_BODY_LIMIT``."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.strip().isdigit() and int(value) > LOGIN_BODY_LIMIT:
            return None
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > LOGIN_BODY_LIMIT:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    replayed = False

    async def replay_receive() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay_receive
