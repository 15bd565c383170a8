"""Network faults between the BFF and the kernel, made by a real TCP proxy in front of the kernel.

``AnswerDroppingProxy`` relays HTTP/1.1 requests unchanged; for a request its ``drop`` rule picks,
it lets the kernel process the request and read its whole answer, then closes the BFF's connection
without relaying it: the answer is lost after the work was done, the case a retry must survive
without doing the work twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Relayed:
    method: str
    path: str
    idempotency_key: str | None
    dropped: bool


@dataclass
class AnswerDroppingProxy:
    target_port: int
    drop: Callable[[str, str, dict[str, str]], bool]  # (method, path, lower-case headers) -> drop its answer?
    port: int = 0
    relayed: list[Relayed] = field(default_factory=list)
    _loop: asyncio.AbstractEventLoop | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        try:
            while True:
                try:
                    head = await client_reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                method, path, headers = _parse_request_head(head)
                body = await _read_body(client_reader, headers)
                upstream_writer.write(head + body)
                await upstream_writer.drain()
                answer_head = await upstream_reader.readuntil(b"\r\n\r\n")
                answer_body = await _read_body(upstream_reader, _parse_headers(answer_head))
                dropped = self.drop(method, path, headers)
                self.relayed.append(Relayed(method, path, headers.get("idempotency-key"), dropped))
                if dropped:
                    return  # the finally below closes the BFF's connection: its answer is lost
                client_writer.write(answer_head + answer_body)
                await client_writer.drain()
        finally:
            for writer in (client_writer, upstream_writer):
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()

    @contextmanager
    def running(self) -> Iterator[AnswerDroppingProxy]:
        loop = asyncio.new_event_loop()
        started = threading.Event()
        server_holder: list[asyncio.base_events.Server] = []

        async def serve() -> None:
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            server_holder.append(server)
            self.port = server.sockets[0].getsockname()[1]
            started.set()

        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        asyncio.run_coroutine_threadsafe(serve(), loop).result(timeout=10)
        started.wait(10)
        try:
            yield self
        finally:

            async def close() -> None:
                server_holder[0].close()

            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def _parse_headers(head: bytes) -> dict[str, str]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers: dict[str, str] = {}
    for line in lines:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return headers


def _parse_request_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    method, path, _version = head.decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
    return method, path, _parse_headers(head)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = b""
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            chunk = await reader.readexactly(size + 2)
            chunks += size_line + chunk
            if size == 0:
                return chunks
    return b""
