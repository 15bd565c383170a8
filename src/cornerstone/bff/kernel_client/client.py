"""The BFF's only way to the kernel: HTTP with explicit timeouts, the service credential,
the request id, and the kernel's answers mapped onto the BFF's error taxonomy.

A kernel that cannot be reached, or does not answer within the read timeout, or answers 502, 503
or 504, is an outage: 503 ``KERNEL_UNAVAILABLE`` with ``Retry-After``. Every call goes through the
kernel's breaker and retry policy (``kit.resilience``): while the breaker is open the 503 comes at
once, without a call, with ``Retry-After`` = seconds until the next probe; reads and money writes
carrying an Idempotency-Key are retried with backoff within the call's deadline, other writes are
sent once. A kernel 4xx is an answer (not found, conflict, validation), passed on with the same
status and code. So is the one 5xx that is a finding: ``ARTIFACT_CORRUPT`` (stored bytes that no
longer match their hash). Any other kernel 5xx (a 500) is a fault in handling this very request: a
500 ``INTERNAL_ERROR`` with the request id, logged, neither retried nor counted against the breaker -
a retryable 503 would send a client round in circles on a request that can never succeed, and one
client's poison request must not open the breaker for everyone.

Besides JSON calls (``request``), artifact bytes travel both ways as streams: ``upload`` sends a
body without holding it in memory, ``download`` hands back the kernel's answer to be streamed on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import quote, urlencode, urlsplit

import httpx
import structlog

from cornerstone.bff.auth.dependencies import Principal
from cornerstone.bff.kernel_client.transport import Answer, KernelTransport, Timeouts
from cornerstone.kit.idempotency_keys import KEY_HEADER
from cornerstone.kit.problems import AppError, ServiceUnavailable
from cornerstone.kit.request_context import REQUEST_ID_HEADER, current_request_id
from cornerstone.kit.resilience import AttemptFailed, BreakerOpen, BreakerSettings, Resilience, RetryPolicy
from cornerstone.kit.service_auth import mint_service_token
from cornerstone.kit.tracing import TRACEPARENT_HEADER, current_traceparent_for_call

log = structlog.get_logger("cornerstone.bff.kernel_client")


class KernelUnavailable(ServiceUnavailable):
    """The kernel (the authority for deals and money) did not answer in time, answered that it cannot
    serve now (502, 503 or 504), or its circuit breaker is open; nothing was decided. Retry after
    ``Retry-After`` seconds - a money POST with the same Idempotency-Key, which moves the money at
    most once."""

    code = "KERNEL_UNAVAILABLE"
    title = "Kernel unavailable"


class KernelAnswer(AppError):
    """A kernel 4xx problem, carried through with its own status, code, title and extra fields."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        self.status = status
        self.code = str(body.get("code") or "KERNEL_ERROR")
        self.title = str(body.get("title") or "Kernel error")
        extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "code", "request_id"}}
        super().__init__(str(body.get("detail") or self.title), extra=extra)


class _Reply(Protocol):
    """What the answer mapping reads of a kernel answer: an ``httpx.Response`` or a transport ``Answer``."""

    @property
    def status_code(self) -> int: ...

    def json(self) -> Any: ...


_A = TypeVar("_A", bound=_Reply)
_JSON_CONTENT = [(b"Content-Type", b"application/json")]
# Characters left as they are in a path sent to the kernel (RFC 3986 pchar and "/"); the rest is
# percent-encoded, so an id taken from a client's URL can never break the request line.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def _target(path: str, params: Mapping[str, Any] | None) -> bytes:
    """The request target: the path percent-encoded, then the query (None values left out; booleans
    as ``true``/``false``, as httpx writes them)."""
    query = [
        (name, ("true" if value else "false") if isinstance(value, bool) else str(value))
        for name, value in (params or {}).items()
        if value is not None
    ]
    encoded = quote(path, safe=_PATH_SAFE)
    return (f"{encoded}?{urlencode(query)}" if query else encoded).encode("ascii")


def _json_bytes(value: Any) -> bytes:
    """A request body as httpx would encode it: compact UTF-8 JSON, NaN and infinities refused."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _encoded(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("ascii"), value.encode("latin-1")) for name, value in headers.items()]


class KernelFailed(AppError):
    """The kernel answered this request with a server error that is not an outage (a fault in handling
    this very request). It is not retried and not hidden behind a retryable 503: a client retrying
    the same request would get the same answer. Logged with the request id on both services."""

    status = 500
    code = "INTERNAL_ERROR"
    title = "Internal server error"


# Kernel 5xx problems passed on as they are (see the module docstring).
PASSED_THROUGH_SERVER_ERRORS = frozenset({"ARTIFACT_CORRUPT"})
# The kernel answers these when it cannot serve anyone right now (its database unreachable, a proxy in
# front of it): an outage, like no answer at all. Any other 5xx is a fault of this one request.
OUTAGE_STATUSES = frozenset({502, 503, 504})


@dataclass
class KernelDownload:
    """A kernel answer whose body has not been read yet: its headers, and its bytes to stream once."""

    response: httpx.Response
    path: str

    @property
    def headers(self) -> httpx.Headers:
        return self.response.headers

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self.response.aiter_bytes():
                yield chunk
        except httpx.TransportError as exc:
            # The kernel cut the stream (e.g. the file changed while it was being sent): end ours
            # too, so the client sees a truncated body rather than a complete wrong one.
            log.error("kernel_stream_broken", path=self.path, error=type(exc).__name__)
            raise
        finally:
            await self.response.aclose()

    async def aclose(self) -> None:
        await self.response.aclose()


class KernelClient:
    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        retry_after: int,
        breaker: BreakerSettings | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._service_key = service_key
        self._retry_after = retry_after
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self.resilience = Resilience(
            "kernel", breaker or BreakerSettings(), retry or RetryPolicy(deadline_seconds=read_timeout)
        )
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"the kernel URL must be http://host[:port]: {base_url!r}")
        self._endpoint = (parts.hostname, parts.port or 80)
        self._prefix = parts.path.rstrip("/")
        # Our own HTTP/1.1 transport (kernel_client.transport): a fraction of httpcore's CPU per call.
        # Up to 32 connections kept alive, each dropped after 4 s idle: before uvicorn's own 5 s
        # (timeout_keep_alive), so a connection the kernel just closed is never reused. JSON calls use
        # it directly (``exchange``); streamed uploads and downloads go through httpx on top of it.
        self._transport = KernelTransport(max_connections=100, max_idle=32, keepalive_expiry=4.0)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
            transport=self._transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _unavailable(self, retry_after: int | None = None) -> KernelUnavailable:
        return KernelUnavailable(
            "The deal and money service is temporarily unavailable; retry shortly.",
            headers={"Retry-After": str(retry_after or self._retry_after)},
        )

    def _timeouts(self, budget: float) -> Timeouts:
        """As ``_timeout``, for the transport's own calls."""
        connect = min(self._connect_timeout, budget)
        read = min(self._read_timeout, budget)
        return Timeouts(connect=connect, read=read, write=read, pool=connect)

    def _timeout(self, budget: float) -> httpx.Timeout:
        """The client's timeouts, none longer than what is left of the call's deadline."""
        connect = min(self._connect_timeout, budget)
        read = min(self._read_timeout, budget)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)

    async def _resilient(self, send: Callable[[float], Awaitable[_A]], *, idempotent: bool, operation: str) -> _A:
        """``send`` under the breaker and retry policy; an outage of any kind becomes the 503."""
        try:
            return await self.resilience.call(send, idempotent=idempotent, operation=operation)
        except BreakerOpen as exc:
            raise self._unavailable(exc.retry_after) from None
        except AttemptFailed:
            raise self._unavailable() from None

    @staticmethod
    def _check_outage(response: _Reply) -> None:
        """A 502, 503 or 504 answer is an outage (``AttemptFailed``: counted by the breaker, retried if the
        call may be); every other answer, a 500 included, is the kernel's answer to this request."""
        if response.status_code in OUTAGE_STATUSES:
            raise AttemptFailed(f"status {response.status_code}", status=response.status_code)

    def _headers(self, caller: Principal, idempotency_key: str | None = None) -> dict[str, str]:
        token = mint_service_token(
            self._service_key, org_id=caller.org_id, actor_id=caller.user_id, actor_role=caller.role
        )
        headers = {"Authorization": f"Bearer {token}"}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        traceparent = current_traceparent_for_call()
        if traceparent:
            headers[TRACEPARENT_HEADER] = traceparent
        if idempotency_key is not None:
            # The kernel stores the outcome under this key, so a retry never moves money twice.
            headers[KEY_HEADER] = idempotency_key
        return headers

    def _raise_unless_success(self, response: _Reply, method: str, path: str) -> None:
        """Map a kernel answer that is not a 2xx onto the taxonomy (its body must have been read)."""
        status = response.status_code
        if 200 <= status < 300:
            return
        try:
            body = response.json() if status >= 400 else {}
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        if status >= 500 and body.get("code") in PASSED_THROUGH_SERVER_ERRORS:
            log.error("kernel_reported", method=method, path=path, status=status, code=body["code"])
            raise KernelAnswer(status, body)
        if status >= 500 and status not in OUTAGE_STATUSES:
            log.error("kernel_server_error", method=method, path=path, status=status, code=body.get("code"))
            raise KernelFailed(
                "The request failed in the deal and money service; it has been logged with this request id."
            )
        if status >= 500 or status < 200 or 300 <= status < 400:
            log.warning("kernel_failed", method=method, path=path, status=status)
            raise self._unavailable()
        if status == 401:
            # The kernel refused our own credential: a configuration fault, not the client's.
            log.error("kernel_rejected_service_credential")
            raise self._unavailable()
        raise KernelAnswer(status, body)

    async def request(
        self,
        method: str,
        path: str,
        caller: Principal,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call ``/kernel/v1/orgs/{caller.org_id}{path}`` on behalf of ``caller`` and return the JSON body."""
        target = _target(f"{self._prefix}/kernel/v1/orgs/{caller.org_id}{path}", params)
        body = b"" if json is None else _json_bytes(json)
        content_headers = _JSON_CONTENT if json is not None else []

        async def send(budget: float) -> Answer:
            # Minted per attempt: a retry carries a fresh service token and a new span.
            headers = [*content_headers, *_encoded(self._headers(caller, idempotency_key))]
            try:
                answer = await self._transport.exchange(
                    self._endpoint, method, target, headers, body, self._timeouts(budget)
                )
            except httpx.TransportError as exc:
                raise AttemptFailed(type(exc).__name__) from None
            self._check_outage(answer)
            return answer

        # A read changes nothing; a keyed money write is stored under its key by the kernel, so a
        # second attempt returns the first outcome instead of moving money again.
        idempotent = method in {"GET", "HEAD"} or idempotency_key is not None
        response = await self._resilient(send, idempotent=idempotent, operation=method)
        self._raise_unless_success(response, method, path)
        return self._json(response, method, path)

    async def upload(
        self,
        path: str,
        caller: Principal,
        *,
        content: AsyncIterator[bytes],
        size: int,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """POST ``size`` raw bytes, streamed from ``content``, and return the kernel's JSON answer."""
        headers = {
            **self._headers(caller),
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
        }
        url = f"/kernel/v1/orgs/{caller.org_id}{path}"
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}

        async def send(budget: float) -> httpx.Response:
            # The body streams through once, so an upload is never retried; the read timeout is the
            # wait for the kernel's answer once the last byte is sent.
            try:
                response = await self._http.post(
                    url, content=content, params=clean_params, headers=headers, timeout=self._timeout(budget)
                )
            except httpx.TransportError as exc:
                raise AttemptFailed(type(exc).__name__) from None
            self._check_outage(response)
            return response

        response = await self._resilient(send, idempotent=False, operation="POST")
        self._raise_unless_success(response, "POST", path)
        return self._json(response, "POST", path)

    async def download(self, path: str, caller: Principal) -> KernelDownload:
        """GET ``path`` without reading its body: a 2xx comes back to be streamed (``chunks``), anything
        else is mapped (and its connection released) here."""
        url = f"/kernel/v1/orgs/{caller.org_id}{path}"

        async def send(budget: float) -> httpx.Response:
            request = self._http.build_request("GET", url, headers=self._headers(caller), timeout=self._timeout(budget))
            try:
                response = await self._http.send(request, stream=True)
                if not 200 <= response.status_code < 300:
                    try:
                        await response.aread()
                    finally:
                        await response.aclose()
            except httpx.TransportError as exc:
                raise AttemptFailed(type(exc).__name__) from None
            self._check_outage(response)
            return response

        # The breaker judges the answer's start (status and headers); the bytes stream afterwards.
        response = await self._resilient(send, idempotent=True, operation="GET")
        if not 200 <= response.status_code < 300:
            self._raise_unless_success(response, "GET", path)
        return KernelDownload(response, path)

    def _json(self, response: _Reply, method: str, path: str) -> Any:
        try:
            return response.json()
        except ValueError:
            log.warning("kernel_answer_not_json", method=method, path=path, status=response.status_code)
            raise self._unavailable() from None

    async def ready(self) -> bool:
        """The kernel's readiness probe, sent directly (not through the breaker): the answer to "is it
        up right now?" must not be the breaker's memory of the past."""
        try:
            response = await self._http.get("/readyz")
        except httpx.TransportError:
            return False
        return response.status_code == 200
