"""The pages' only way to data: the public JSON API, called in process.

A page is an API client. Each read or write a page makes is a request to ``/api/...`` run
through the BFF's own ASGI stack (security headers, request context, audit, CSRF, body limits,
routing, the route's permission, tenancy, idempotency and validation), carrying the signed-in
user's access token and the page request's id. So a page can never show or change more than
the API allows its user, every change it makes leaves the API's own audit record, and every
money change goes through the API's idempotency keys.

Only the rate limit is not paid twice: the page request itself was counted against the user's
budget, so the calls it makes with the user's token are marked in-process
(``IN_PROCESS_SCOPE_KEY``, a key of the ASGI scope that no client can set) and pass the limiter.
Calls without a token (sign-in) are limited as any client's.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.types import Message

from cornerstone.kit.idempotency_keys import KEY_HEADER
from cornerstone.kit.request_context import REQUEST_ID_HEADER, current_request_id

IN_PROCESS_SCOPE_KEY = "cornerstone.in_process"
# Set on the page request's state when it made a change through the API, whose audit record then
# stands for the page request too (the audit layer writes no second one).
DELEGATED_STATE_KEY = "delegated_to_api"
_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str  # the API's name: "body.amount", "query.at"
    message: str

    @property
    def name(self) -> str:
        """The form field's name: the last part of the API's location (``body.address.city`` -> ``city``)."""
        return self.field.rsplit(".", 1)[-1]


@dataclass(frozen=True, slots=True)
class ApiAnswer:
    status: int
    headers: Headers
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return jsonlib.loads(self.body) if self.body else None


class ApiProblem(Exception):
    """An API answer that is not a success, as a page shows it: status, code, a sentence, the
    fields it names and the request id (the API's problem body, RFC 9457)."""

    def __init__(self, answer: ApiAnswer) -> None:
        try:
            body = answer.json()
        except ValueError:
            body = None
        body = body if isinstance(body, dict) else {}
        self.status = answer.status
        self.code = str(body.get("code") or "ERROR")
        self.title = str(body.get("title") or "Error")
        self.detail = str(body.get("detail") or self.title)
        self.request_id = str(body.get("request_id") or answer.headers.get(REQUEST_ID_HEADER, ""))
        self.body: dict[str, Any] = body
        self.retry_after = answer.headers.get("retry-after")
        errors = body.get("errors")
        self.field_errors: list[FieldError] = [
            FieldError(str(e.get("field", "")), str(e.get("message", "invalid")))
            for e in (errors if isinstance(errors, list) else [])
            if isinstance(e, dict)
        ]
        super().__init__(f"{self.status} {self.code}: {self.detail}")

    def for_field(self, name: str) -> str | None:
        """The message for the form field ``name``, if the problem names it."""
        return next((error.message for error in self.field_errors if error.name == name), None)


@dataclass
class Upload:
    """A file to send as the multipart field ``name``, read in chunks from ``stream``."""

    name: str
    filename: str
    content_type: str
    size: int
    stream: AsyncIterator[bytes]


@dataclass
class PageApi:
    """The API as the signed-in user of one page request (or anonymously, for sign-in)."""

    request: Request
    token: str | None
    calls: list[str] = field(default_factory=list)

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return its JSON; ``ApiProblem`` for any answer but a 2xx."""
        answer = await self.call("GET", path, params=params)
        if not answer.ok:
            raise ApiProblem(answer)
        return answer.json()

    async def get_many(self, *calls: tuple[str, Mapping[str, Any] | None]) -> list[Any]:
        """Several reads at once (each its own API request); the first problem is raised."""
        return list(await asyncio.gather(*(self.get(path, params) for path, params in calls)))

    async def pages(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int = 200, max_pages: int | None = None
    ) -> AsyncIterator[list[Any]]:
        """The items of a list API, page by page, following ``next_cursor`` (at most ``max_pages``)."""
        cursor: str | None = None
        read = 0
        while max_pages is None or read < max_pages:
            page = await self.get(path, {**(params or {}), "limit": page_size, "cursor": cursor})
            read += 1
            yield page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def get_capped(
        self, path: str, params: Mapping[str, Any] | None = None, *, cap: int, page_size: int = 200
    ) -> tuple[list[Any], bool]:
        """The first ``cap`` items of a list API, following ``next_cursor``, and whether there were more."""
        items: list[Any] = []
        cursor: str | None = None
        while True:
            limit = min(page_size, cap - len(items))
            page = await self.get(path, {**(params or {}), "limit": limit, "cursor": cursor})
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items[:cap], False
            if len(items) >= cap:
                return items[:cap], True

    async def get_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, cap: int, page_size: int = 200
    ) -> list[Any]:
        """Every item of a list API, following ``next_cursor``, up to ``cap`` items."""
        items, _ = await self.get_capped(path, params, cap=cap, page_size=page_size)
        return items

    async def names(
        self, path: str, wanted: Iterable[str], *, field: str = "name", max_pages: int = 100
    ) -> dict[str, str]:
        """``field`` (a name, an email) of each item ``wanted`` by id, read from the list API ``path``
        page by page until all are found (ids not found are left out)."""
        missing = set(wanted)
        found: dict[str, str] = {}
        if not missing:
            return found
        async for items in self.pages(path, max_pages=max_pages):
            for item in items:
                if item["id"] in missing:
                    found[item["id"]] = str(item[field])
                    missing.discard(item["id"])
            if not missing:
                break
        return found

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """A change (POST, PATCH, ...) with a JSON body; returns the answer's JSON, ``ApiProblem`` otherwise."""
        body = b"" if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        answer = await self.call(
            method,
            path,
            params=params,
            body=body,
            content_type="application/json" if json is not None else None,
            idempotency_key=idempotency_key,
        )
        if not answer.ok:
            raise ApiProblem(answer)
        return answer.json()

    async def upload(self, path: str, upload: Upload) -> Any:
        """POST one file as ``multipart/form-data``, streamed (never held whole in memory)."""
        boundary = f"cornerstone-{id(upload):x}-{upload.size:x}"
        safe_name = upload.filename.replace("\\", "_").replace('"', "_").replace("\r", "_").replace("\n", "_")
        head = (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{upload.name}"; filename="{safe_name}"\r\n'
            f"Content-Type: {upload.content_type}\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()

        async def parts() -> AsyncIterator[bytes]:
            yield head
            async for chunk in upload.stream:
                yield chunk
            yield tail

        answer = await self.call(
            "POST",
            path,
            body=parts(),
            content_type=f"multipart/form-data; boundary={boundary}",
            content_length=len(head) + upload.size + len(tail),
        )
        if not answer.ok:
            raise ApiProblem(answer)
        return answer.json()

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: bytes | AsyncIterator[bytes] = b"",
        content_type: str | None = None,
        content_length: int | None = None,
        idempotency_key: str | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> ApiAnswer:
        """One request through the BFF's ASGI stack, in a task of its own (so what it binds to the
        logging and request context stays with it). Every answer comes back, problems included."""
        assert path.startswith("/api/"), "pages reach data through the public API only"
        if method not in {"GET", "HEAD"}:
            setattr(self.request.state, DELEGATED_STATE_KEY, True)
        self.calls.append(f"{method} {path}")
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, doseq=True)
        parent = self.request.scope
        headers: list[tuple[bytes, bytes]] = [(b"host", Headers(scope=parent).get("host", "localhost").encode())]
        request_id = current_request_id()
        if request_id:
            headers.append((REQUEST_ID_HEADER.lower().encode(), request_id.encode()))
        user_agent = self.request.headers.get("user-agent")
        if user_agent:
            headers.append((b"user-agent", user_agent.encode("latin-1", "replace")))
        if self.token is not None:
            headers.append((b"authorization", f"Bearer {self.token}".encode()))
        if idempotency_key is not None:
            headers.append((KEY_HEADER.lower().encode(), idempotency_key.encode()))
        if content_type is not None:
            headers.append((b"content-type", content_type.encode()))
        if isinstance(body, bytes):
            if body or method not in {"GET", "HEAD"}:
                headers.append((b"content-length", str(len(body)).encode()))
        elif content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        headers.extend((name.lower().encode(), value.encode()) for name, value in extra_headers)
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method,
            "scheme": parent.get("scheme", "http"),
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": parent.get("client"),
            "server": parent.get("server"),
            "state": {},
            "app": self.request.app,
            # The page request already spent the signed-in user's rate-limit budget.
            IN_PROCESS_SCOPE_KEY: self.token is not None,
        }
        return await asyncio.create_task(_run(self.request.app, scope, body))


async def _run(app: Any, scope: dict[str, Any], body: bytes | AsyncIterator[bytes]) -> ApiAnswer:
    chunks: AsyncIterator[bytes] | None = None if isinstance(body, bytes) else body
    sent_whole = False
    status = 500
    raw_headers: list[tuple[bytes, bytes]] = []
    out: list[bytes] = []

    async def receive() -> Message:
        nonlocal sent_whole
        if chunks is None:
            if sent_whole:
                return {"type": "http.disconnect"}
            sent_whole = True
            assert isinstance(body, bytes)
            return {"type": "http.request", "body": body, "more_body": False}
        try:
            chunk = await anext(chunks)
        except StopAsyncIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: Message) -> None:
        nonlocal status, raw_headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            raw_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            out.append(message.get("body", b""))

    await app(scope, receive, send)
    return ApiAnswer(status, Headers(raw=raw_headers), b"".join(out))
