"""The BFF's only way to the kernel: HTTP with explicit timeouts, the service credential,
the request id, and the kernel's answers mapped onto the BFF's error taxonomy.

A kernel that cannot be reached, or does not answer within the read timeout, or answers
5xx, is an outage: 503 ``KERNEL_UNAVAILABLE`` with ``Retry-After``. A kernel 4xx is an
answer (not found, conflict, validation), passed on with the same status and code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import structlog

from cornerstone.bff.auth.dependencies import Principal
from cornerstone.kit.idempotency_keys import KEY_HEADER
from cornerstone.kit.problems import AppError, ServiceUnavailable
from cornerstone.kit.request_context import REQUEST_ID_HEADER, current_request_id
from cornerstone.kit.service_auth import mint_service_token

log = structlog.get_logger("cornerstone.bff.kernel_client")


class KernelUnavailable(ServiceUnavailable):
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


class KernelClient:
    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        connect_timeout: float,
        read_timeout: float,
        retry_after: int,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._service_key = service_key
        self._retry_after = retry_after
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout),
            transport=transport,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def _unavailable(self) -> KernelUnavailable:
        return KernelUnavailable(
            "The deal and money service is temporarily unavailable; retry shortly.",
            headers={"Retry-After": str(self._retry_after)},
        )

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
        token = mint_service_token(
            self._service_key, org_id=caller.org_id, actor_id=caller.user_id, actor_role=caller.role
        )
        headers = {"Authorization": f"Bearer {token}"}
        request_id = current_request_id()
        if request_id:
            headers[REQUEST_ID_HEADER] = request_id
        if idempotency_key is not None:
            # The kernel stores the outcome under this key, so a retry never moves money twice.
            headers[KEY_HEADER] = idempotency_key
        url = f"/kernel/v1/orgs/{caller.org_id}{path}"
        clean_params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = await self._http.request(method, url, json=json, params=clean_params, headers=headers)
        except httpx.TransportError as exc:
            log.warning("kernel_unreachable", method=method, path=path, error=type(exc).__name__)
            raise self._unavailable() from None
        if response.status_code >= 500 or response.status_code < 200 or 300 <= response.status_code < 400:
            log.warning("kernel_failed", method=method, path=path, status=response.status_code)
            raise self._unavailable()
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.status_code == 401:
                # The kernel refused our own credential: a configuration fault, not the client's.
                log.error("kernel_rejected_service_credential")
                raise self._unavailable()
            raise KernelAnswer(response.status_code, body if isinstance(body, dict) else {})
        try:
            return response.json()
        except ValueError:
            log.warning("kernel_answer_not_json", method=method, path=path, status=response.status_code)
            raise self._unavailable() from None

    async def ready(self) -> bool:
        try:
            response = await self._http.get("/readyz")
        except httpx.TransportError:
            return False
        return response.status_code == 200
