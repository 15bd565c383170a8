"""Request bodies: a size limit enforced while the body streams in, and a JSON complexity limit.

Size: a declared ``Content-Length`` over the limit is refused at once, before a byte of the body
is read; a body without one (chunked) is counted as it arrives and refused as soon as it passes
the limit, without waiting for the rest. Either way the answer is a 413 problem and the
connection is closed. An accepted body (at most the limit, so bounded memory) is handed on
unchanged to the application.

Upload routes (``StreamedBodyRoute``) are the exception: their limit is their own (larger) one,
and their body is not held here but passed through to the route as it arrives, counted on the
way; a declared ``Content-Length`` over it is refused at once, and a chunked body is cut off
(413, connection closed, the route told the client went away) the moment it passes it. Their
bodies are multipart, never parsed as JSON here.

JSON: before the application parses a JSON body, its nesting depth and its total number of
object keys are checked; too deep or too many is a 422 problem naming ``body``, never a
``RecursionError`` or a response that echoes thousands of field names.

JSON is read as RFC 8259 says it is exchanged: UTF-8, no byte order mark. A body in another
encoding (UTF-16 or UTF-32, which the application's parser would otherwise detect and accept), with
bytes that are not UTF-8, or with a BOM is a 400 problem. A document that repeats a key in one
object (``"amount":1000, ... "amount":999999``: parsers disagree which one wins, so a check and a
use of the body could see different amounts) or holds a lone surrogate escape (``"\\ud800"``: no
character, unstorable as UTF-8) is a 422 problem naming ``body``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cornerstone.kit.problems import AppError, BadRequest, ValidationFailed, app_error_response
from cornerstone.kit.route_lookup import annotate_route


class PayloadTooLarge(AppError):
    """The request body is larger than the route accepts (an artifact upload has its own, larger cap)."""

    status = 413
    code = "PAYLOAD_TOO_LARGE"
    title = "Payload too large"


def _json_content_type(content_type: str | None) -> bool:
    """What FastAPI parses as JSON: no content type, ``application/json`` or ``application/*+json``."""
    if not content_type:
        return True
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def json_complexity_problem(value: Any, *, max_depth: int, max_keys: int) -> tuple[str, str] | None:
    """Why ``value`` (a parsed JSON document) is too complex, as ``(kind, detail)``, or ``None``.
    Depth counts containers: ``[]`` is 1, ``{"a": [1]}`` is 2. Walks iteratively (no stack cost)."""
    keys = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
            keys += len(node)
            if keys > max_keys:
                return "json_too_many_keys", f"The JSON body has more than {max_keys} object keys."
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > max_depth:
            return "json_too_deep", f"The JSON body is nested deeper than {max_depth} levels."
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return None


def _too_complex(kind: str, detail: str) -> ValidationFailed:
    return ValidationFailed(detail, extra={"errors": [{"field": "body", "message": detail, "type": kind}]})


_NOT_UTF8 = "The request body must be JSON encoded as UTF-8, without a byte order mark."
# A \uD800-\uDFFF escape: only where one appears can a parsed string hold a surrogate (raw UTF-8 cannot).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
# A repeated key is named in the problem's message only when it is a plain field name (never echo arbitrary input).
_NAMEABLE_KEY = re.compile(r"^[A-Za-z0-9_]{1,64}$")


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__("duplicate object key")
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of ``json.loads``: the object, unless a key repeats in it."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _has_lone_surrogate(value: Any) -> bool:
    """Whether a parsed document holds a surrogate code point (a pair of escapes makes one astral
    character, so what remains is a lone one), in a key or a string."""
    pending = [value]
    while pending:
        node = pending.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            pending.extend(node.keys())
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    return False


def json_text(body: bytes) -> str | None:
    """``body`` decoded, if it is UTF-8 JSON text; ``None`` for a BOM, bytes that are not UTF-8, or UTF-16/32."""
    if body.startswith(codecs.BOM_UTF8):
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    # UTF-16/32 text of ASCII characters is also valid UTF-8 (with NUL bytes): json.loads, which the
    # application uses, would detect the encoding from those NULs and decode it. JSON text never starts
    # with a NUL, so this is exactly the case where its detection says other than UTF-8.
    if json.detect_encoding(body) != "utf-8":
        return None
    return text


@dataclass(frozen=True, slots=True)
class StreamedBodyRoute:
    """A route (``method`` and path template, e.g. ``/api/deals/{deal_id}/artifacts``) whose body
    may reach ``max_bytes`` and is streamed through to it rather than held by the middleware."""

    method: str
    path: str
    max_bytes: int


class RequestBodyMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_json_depth: int,
        max_json_keys: int,
        streamed_routes: Sequence[StreamedBodyRoute] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth
        self.max_json_keys = max_json_keys
        self.streamed_routes = [
            (route.method.upper(), compile_path(route.path)[0], route.max_bytes) for route in streamed_routes
        ]

    def _streamed_limit(self, scope: Scope) -> int | None:
        for method, pattern, max_bytes in self.streamed_routes:
            if scope["method"] == method and pattern.match(scope["path"]):
                return max_bytes
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        content_length: str | None = None
        content_type: str | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = value.decode("latin-1")
            elif name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"transfer-encoding":
                chunked = True
        streamed_limit = self._streamed_limit(scope)
        limit = self.max_body_bytes if streamed_limit is None else streamed_limit
        if content_length is not None:
            if not content_length.strip().isdigit():
                await self._refuse(scope, receive, send, BadRequest("The Content-Length header is not a number."))
                return
            if int(content_length) > limit:
                await self._refuse(scope, receive, send, self._too_large(limit))
                return
            if int(content_length) == 0 and not chunked:
                await self.app(scope, receive, send)
                return
        elif not chunked:
            await self.app(scope, receive, send)
            return
        if streamed_limit is not None:
            await self._stream_through(scope, receive, send, streamed_limit)
            return

        chunks: list[bytes] = []
        received = 0
        disconnected: Message | None = None
        while True:
            message = await receive()
            if message["type"] != "http.request":
                disconnected = message
                break
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_body_bytes:
                await self._refuse(scope, receive, send, self._too_large(self.max_body_bytes))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)

        if disconnected is None and body and _json_content_type(content_type):
            problem = self._json_problem(body)
            if problem is not None:
                await self._refuse(scope, receive, send, problem)
                return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                if disconnected is not None:
                    return disconnected
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _stream_through(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        """Hand the body on as it arrives; past ``limit``, answer 413 and tell the route the client left."""
        received = 0
        refused = False
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    refused = True
                    if not response_started:
                        await self._refuse(scope, receive, send, self._too_large(limit))
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if refused:
                return  # the 413 is the answer; whatever the route makes of the cut-off body is dropped
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise

    @staticmethod
    def _too_large(limit: int) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body is larger than {limit} bytes.")

    def _json_problem(self, body: bytes) -> AppError | None:
        text = json_text(body)
        if text is None:
            return BadRequest(_NOT_UTF8)
        try:
            document = json.loads(text, object_pairs_hook=_unique_keys)
        except RecursionError:
            return _too_complex("json_too_deep", f"The JSON body is nested deeper than {self.max_json_depth} levels.")
        except _DuplicateKey as duplicate:
            key = f" {duplicate.key!r}" if _NAMEABLE_KEY.match(duplicate.key) else ""
            return _too_complex("json_duplicate_key", f"The JSON body repeats the key{key} in one object.")
        except ValueError:
            return None  # not JSON: the application's own parser answers with its 422
        problem = json_complexity_problem(document, max_depth=self.max_json_depth, max_keys=self.max_json_keys)
        if problem is not None:
            return _too_complex(*problem)
        if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(document):
            return _too_complex("json_lone_surrogate", "The JSON body holds a lone surrogate escape (\\ud800-\\udfff).")
        return None

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, error: AppError) -> None:
        annotate_route(scope)
        response = app_error_response(error)
        if isinstance(error, PayloadTooLarge):
            # The rest of the body is never read: the connection cannot be reused.
            response.headers["Connection"] = "close"
        await response(scope, receive, send)
