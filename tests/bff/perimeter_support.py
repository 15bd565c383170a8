"""Helpers for the perimeter tests: distinct client addresses, raw HTTP, audit rows, header checks."""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import Engine, text

from tests.integration.helpers import SECURITY_HEADERS

CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

# Every test takes its own client addresses from the loopback /8 (all of it is this machine),
# so per-address budgets of one test never touch another's. 127.0.0.1 is the harness's own,
# 127.0.0.2 the "reverse proxy" of the trusted-proxy tests.
_ADDRESSES = (
    f"127.{a}.{b}.{c}"
    for a, b, c in itertools.product(range(random.randint(10, 200), 250), range(1, 250), range(1, 250))
)
TRUSTED_PROXY = "127.0.0.2"


def fresh_address() -> str:
    return next(_ADDRESSES)


def fresh_public_address() -> str:
    """A documentation-range address (RFC 5737) a proxy may claim a client has; never contacted."""
    return f"203.0.{random.randint(0, 255)}.{random.randint(1, 254)}"


RATE_LIMIT_POLICY = re.compile(r'^"(?P<name>[a-z]+)";q=(?P<q>\d+);w=(?P<w>\d+)$')
RATE_LIMIT = re.compile(r'^"(?P<name>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


@dataclass(frozen=True)
class Budget:
    name: str
    quota: int
    window: int
    remaining: int
    reset: int


def budget(response: httpx.Response) -> Budget:
    """The ``RateLimit-Policy`` and ``RateLimit`` fields of ``response``, in API.md's exact format."""
    policy = RATE_LIMIT_POLICY.match(response.headers.get("ratelimit-policy", ""))
    state = RATE_LIMIT.match(response.headers.get("ratelimit", ""))
    assert policy, f"RateLimit-Policy missing or malformed: {dict(response.headers)}"
    assert state, f"RateLimit missing or malformed: {dict(response.headers)}"
    assert policy["name"] == state["name"]
    return Budget(policy["name"], int(policy["q"]), int(policy["w"]), int(state["r"]), int(state["t"]))


def assert_always_headers(response: httpx.Response, request_id: str | None = None) -> None:
    """The headers every response carries, errors included (API.md, cross-cutting rules)."""
    for name in SECURITY_HEADERS:
        assert name.lower() in response.headers, f"{name} missing on a {response.status_code}"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "server" not in response.headers
    assert response.headers.get("x-request-id"), f"X-Request-ID missing on a {response.status_code}"
    if request_id is not None:
        assert response.headers["x-request-id"] == request_id


def audit_rows(engine: Engine, request_id: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        result = conn.execute(text("SELECT * FROM audit_records WHERE request_id = :r"), {"r": request_id})
        return [dict(row._mapping) for row in result]


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _read_response(sock: socket.socket) -> RawResponse:
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response; got {buffer!r}"
        buffer += chunk
    head, _, rest = buffer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the response body"
        rest += chunk
    return RawResponse(status, headers, rest[:length])


def raw_request(url: str, head: str, parts: Iterable[bytes] = (), timeout: float = 20.0) -> RawResponse:
    """Send ``head`` (request line and headers, without the blank line) and ``parts`` on a plain
    socket, then read one response - for what httpx refuses to send (a Content-Length that lies,
    a chunked body that never ends)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n\r\n")
        for part in parts:
            sock.sendall(part)
        return _read_response(sock)
