"""The BFF's HTTP/1.1 transport to the kernel: kept-alive asyncio connections under ``httpx``.

httpx's own transport (httpcore over anyio) cost most of the BFF's CPU on a read that goes to
the kernel: its pool re-examines every connection (with a socket poll each) several times per
request. Here a call takes the most recently used idle connection from a stack, writes the request,
reads the answer's head and then its body (``Content-Length`` or chunked), and puts the connection
back once the body has been read to its end. Everything above the wire - URLs, headers, timeouts,
streamed uploads and downloads, the exceptions - stays httpx's, so ``KernelClient`` does not change.

What it does not do, because the kernel never needs it: TLS, proxies, HTTP/2, ``Expect: 100-continue``,
trailers. A connection is reused only if the server kept it open (no ``Connection: close``, an
HTTP/1.1 answer), it has been idle for less than ``keepalive_expiry`` (below uvicorn's 5 s
``timeout_keep_alive``, so the server never closes one under us by its own timer) and it has seen
no end of stream. A call that fails midway closes its connection: it is never reused half-read.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import httpx

_NO_BODY_STATUSES = frozenset({204, 304})
_MAX_HEAD_BYTES = 64 * 1024


class _Connection:
    def __init__(self, key: tuple[str, int], reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.key = key
        self.reader = reader
        self.writer = writer
        self.idle_since = time.monotonic()

    def usable(self, keepalive_expiry: float) -> bool:
        return (
            not self.writer.transport.is_closing()
            and not self.reader.at_eof()
            and time.monotonic() - self.idle_since < keepalive_expiry
        )

    def close(self) -> None:
        with suppress(Exception):
            self.writer.close()


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds allowed for each phase of one call (None: no limit)."""

    connect: float | None
    read: float | None
    write: float | None
    pool: float | None


@dataclass(slots=True)
class Answer:
    """A whole answer from ``KernelTransport.exchange``: status, raw headers, the body's bytes."""

    status_code: int
    headers: list[tuple[bytes, bytes]]
    content: bytes

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass(slots=True)
class _Head:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: _Body
    version: bytes
    reason: bytes


def _timeouts(request: httpx.Request) -> Timeouts:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    return Timeouts(
        connect=timeout.get("connect"), read=timeout.get("read"), write=timeout.get("write"), pool=timeout.get("pool")
    )


class _Body(httpx.AsyncByteStream):
    """The answer's body, read from the connection as the caller iterates; the connection goes back
    to the pool when the body has been read to its end, and is closed if the caller stops early."""

    def __init__(
        self,
        transport: KernelTransport,
        connection: _Connection,
        *,
        length: int | None,
        chunked: bool,
        reusable: bool,
        read_timeout: float | None,
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._length = length
        self._chunked = chunked
        self._reusable = reusable
        self._read_timeout = read_timeout
        self._done = False
        self._released = False

    async def _read(self, reader: asyncio.StreamReader, method: str, *args: Any) -> bytes:
        try:
            async with asyncio.timeout(self._read_timeout):
                data: bytes = await getattr(reader, method)(*args)
                return data
        except TimeoutError:
            raise httpx.ReadTimeout("timed out reading the kernel's answer") from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("the kernel closed the connection mid-answer") from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("a chunk header too long") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from None

    async def __aiter__(self) -> AsyncIterator[bytes]:
        reader = self._connection.reader
        try:
            if self._chunked:
                while True:
                    size_line = await self._read(reader, "readuntil", b"\r\n")
                    try:
                        size = int(size_line.split(b";", 1)[0].strip(), 16)
                    except ValueError:
                        raise httpx.RemoteProtocolError("a malformed chunk size") from None
                    if size == 0:
                        # No trailers from uvicorn: the last chunk ends with an empty line.
                        await self._read(reader, "readuntil", b"\r\n")
                        break
                    chunk = await self._read(reader, "readexactly", size + 2)
                    yield chunk[:-2]
            elif self._length is not None:
                remaining = self._length
                while remaining > 0:
                    chunk = await self._read(reader, "read", min(remaining, 65536))
                    if not chunk:
                        raise httpx.RemoteProtocolError("the kernel closed the connection mid-answer")
                    remaining -= len(chunk)
                    yield chunk
            else:  # delimited by the end of the connection
                self._reusable = False
                while chunk := await self._read(reader, "read", 65536):
                    yield chunk
            self._done = True
        finally:
            self._release()

    def _release(self) -> None:
        if self._released:
            return
        self._released = True
        self._transport._release(self._connection, reusable=self._done and self._reusable)

    async def aclose(self) -> None:
        self._release()


class KernelTransport(httpx.AsyncBaseTransport):
    """Plain HTTP/1.1 with keep-alive, for ``httpx.AsyncClient(transport=...)``."""

    def __init__(self, *, max_connections: int = 100, max_idle: int = 32, keepalive_expiry: float = 4.0) -> None:
        self.max_idle = max_idle
        self.keepalive_expiry = keepalive_expiry
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._closed = False

    async def _connect(self, host: str, port: int, seconds: float | None) -> _Connection:
        try:
            async with asyncio.timeout(seconds):
                reader, writer = await asyncio.open_connection(host, port, limit=_MAX_HEAD_BYTES)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from None
        return _Connection((host, port), reader, writer)

    def _take_idle(self, key: tuple[str, int]) -> _Connection | None:
        stack = self._idle.get(key)
        while stack:
            connection = stack.pop()  # the most recently used: least likely to have gone stale
            if connection.usable(self.keepalive_expiry):
                return connection
            connection.close()
            self._slots.release()
        return None

    def _release(self, connection: _Connection, *, reusable: bool) -> None:
        stack = self._idle.setdefault(connection.key, [])
        if reusable and not self._closed and len(stack) < self.max_idle:
            connection.idle_since = time.monotonic()
            stack.append(connection)
            return
        connection.close()
        self._slots.release()

    async def _checkout(self, key: tuple[str, int], timeouts: Timeouts) -> _Connection:
        connection = self._take_idle(key)
        if connection is not None:
            return connection
        try:
            async with asyncio.timeout(timeouts.pool):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no kernel connection free in time") from None
        try:
            return await self._connect(key[0], key[1], timeouts.connect)
        except BaseException:
            self._slots.release()
            raise

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol("the kernel transport speaks plain http only")
        timeouts = _timeouts(request)
        connection = await self._checkout((request.url.host, request.url.port or 80), timeouts)
        try:
            head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode(), request.url.raw_path)]
            chunked = False
            for name, value in request.headers.raw:
                if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                    chunked = True
                head.append(b"%s: %s\r\n" % (name, value))
            head.append(b"\r\n")
            assert isinstance(request.stream, httpx.AsyncByteStream)
            await self._send(connection, b"".join(head), request.stream, chunked, timeouts.write)
            answer = await self._receive_head(connection, request.method, timeouts.read)
        except BaseException:
            self._release(connection, reusable=False)
            raise
        return httpx.Response(
            answer.status,
            headers=answer.headers,
            stream=answer.body,
            extensions={"http_version": answer.version, "reason_phrase": answer.reason},
        )

    async def exchange(
        self,
        key: tuple[str, int],
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
    ) -> Answer:
        """One whole call without httpx's request and response objects: ``target`` (an encoded path and
        query) with ``headers`` and ``body`` (``Host`` and ``Content-Length`` added here), the answer read to
        its end. The kernel client's JSON calls take this way; failures raise the same httpx exceptions."""
        host = b"%s:%d" % (key[0].encode(), key[1])
        head = [b"%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n" % (method.encode(), target, host, len(body))]
        head.extend(b"%s: %s\r\n" % (name, value) for name, value in headers)
        head.append(b"\r\n")
        connection = await self._checkout(key, timeouts)
        try:
            await self._send(connection, b"".join(head), body, False, timeouts.write)
            answer = await self._receive_head(connection, method, timeouts.read)
        except BaseException:
            self._release(connection, reusable=False)
            raise
        # _Body gives the connection back (or closes it) once read to its end or abandoned.
        content = b"".join([chunk async for chunk in answer.body])
        return Answer(answer.status, answer.headers, content)

    async def _send(
        self,
        connection: _Connection,
        head: bytes,
        body: bytes | httpx.AsyncByteStream,
        chunked: bool,
        seconds: float | None,
    ) -> None:
        writer = connection.writer
        try:
            async with asyncio.timeout(seconds):
                if isinstance(body, bytes):
                    writer.write(head + body)
                else:
                    writer.write(head)
                    async for chunk in body:
                        if chunked:
                            if chunk:
                                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        else:
                            writer.write(chunk)
                        await writer.drain()
                    if chunked:
                        writer.write(b"0\r\n\r\n")
                await writer.drain()
        except TimeoutError:
            raise httpx.WriteTimeout("timed out sending to the kernel") from None
        except OSError as exc:
            raise httpx.WriteError(str(exc)) from None

    async def _receive_head(self, connection: _Connection, method: str, seconds: float | None) -> _Head:
        reader = connection.reader
        try:
            async with asyncio.timeout(seconds):
                head = await reader.readuntil(b"\r\n\r\n")
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the kernel's answer") from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("the kernel closed the connection without answering") from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("the kernel's answer head is too large") from None
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from None
        lines = head[:-4].split(b"\r\n")
        version, _, rest = lines[0].partition(b" ")
        status_text, _, reason = rest.partition(b" ")
        try:
            status = int(status_text)
        except ValueError:
            raise httpx.RemoteProtocolError("a malformed status line") from None
        headers: list[tuple[bytes, bytes]] = []
        length: int | None = None
        chunked = False
        reusable = version == b"HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx.RemoteProtocolError("a malformed header line")
            name, value = name.strip(), value.strip()
            lowered = name.lower()
            if lowered == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise httpx.RemoteProtocolError("a malformed Content-Length") from None
            elif lowered == b"transfer-encoding":
                chunked = value.lower() == b"chunked"
            elif lowered == b"connection" and value.lower() == b"close":
                reusable = False
            headers.append((name, value))
        if method == "HEAD" or status in _NO_BODY_STATUSES or 100 <= status < 200:
            length, chunked = 0, False
        body = _Body(self, connection, length=length, chunked=chunked, reusable=reusable, read_timeout=seconds)
        return _Head(status, headers, body, version, reason)

    async def aclose(self) -> None:
        self._closed = True
        for stack in self._idle.values():
            while stack:
                stack.pop().close()
