"""The BFF's HTTP/1.1 transport to the kernel (``bff.kernel_client.transport``) against a real uvicorn
server: answers and bodies as httpx gives them, kept-alive connections reused and only when safe,
streamed uploads and chunked downloads, and every failure as the httpx exception the kernel client
maps onto its taxonomy."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from cornerstone.bff.kernel_client.transport import KernelTransport
from tests.support import Served, free_port


def _app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/who", methods=["GET", "HEAD"])
    async def who(request: Request) -> dict[str, object]:
        assert request.client is not None
        return {"port": request.client.port, "query": request.url.query}

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, object]:
        body = await request.body()
        return {
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
            "chunked": request.headers.get("transfer-encoding") == "chunked",
        }

    @app.get("/stream")
    async def stream(parts: int = 3) -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for number in range(parts):
                yield f"part-{number};".encode() * 1000

        return StreamingResponse(chunks(), media_type="application/octet-stream")

    @app.get("/empty")
    async def empty() -> Response:
        return Response(status_code=204)

    @app.get("/bye")
    async def bye() -> JSONResponse:
        return JSONResponse({"bye": True}, headers={"Connection": "close"})

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(2)
        return {"slow": True}

    @app.get("/problem")
    async def problem() -> JSONResponse:
        return JSONResponse({"code": "DEAL_NOT_FOUND"}, status_code=404)

    return app


@pytest.fixture(scope="module")
def server() -> Iterator[Served]:
    with Served(_app(), keep_alive=5) as running:
        yield running


def _run(url: str, scenario: Callable[[httpx.AsyncClient, KernelTransport], Awaitable[None]], **options: float) -> None:
    async def main() -> None:
        transport = KernelTransport(**options)  # type: ignore[arg-type]
        async with httpx.AsyncClient(base_url=url, transport=transport, timeout=5.0) as client:
            await scenario(client, transport)

    asyncio.run(main())


def test_answers_are_read_and_one_connection_serves_call_after_call(server: Served) -> None:
    async def scenario(client: httpx.AsyncClient, _: KernelTransport) -> None:
        first = await client.get("/who", params={"a": "1 2"})
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/json"
        assert first.json()["query"] == "a=1+2"
        ports = {(await client.get("/who")).json()["port"] for _ in range(5)}
        assert ports == {first.json()["port"]}
        missing = await client.get("/problem")
        assert (missing.status_code, missing.json()) == (404, {"code": "DEAL_NOT_FOUND"})
        assert (await client.get("/who")).json()["port"] == first.json()["port"]  # a 4xx keeps it too

    _run(server.url, scenario)


def test_concurrent_calls_each_get_a_connection_and_give_it_back(server: Served) -> None:
    async def scenario(client: httpx.AsyncClient, transport: KernelTransport) -> None:
        answers = await asyncio.gather(*(client.get("/who") for _ in range(20)))
        assert all(answer.status_code == 200 for answer in answers)
        ports = {answer.json()["port"] for answer in answers}
        again = await asyncio.gather(*(client.get("/who") for _ in range(20)))
        assert {answer.json()["port"] for answer in again} <= ports

    _run(server.url, scenario, max_idle=32)


def test_bodies_go_out_with_a_length_or_chunked_when_streamed(server: Served) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB

    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 65536):
            yield payload[start : start + 65536]

    async def scenario(client: httpx.AsyncClient, _: KernelTransport) -> None:
        sized = (await client.post("/echo", content=payload)).json()
        assert sized == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "chunked": False}
        streamed = (await client.post("/echo", content=pieces())).json()
        assert streamed == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(), "chunked": True}
        with_length = await client.post("/echo", content=pieces(), headers={"Content-Length": str(len(payload))})
        assert with_length.json()["chunked"] is False
        assert with_length.json()["size"] == len(payload)
        as_json = (await client.post("/echo", json={"a": 1})).json()
        assert as_json["size"] == len(b'{"a":1}')

    _run(server.url, scenario)


def test_a_chunked_answer_streams_and_a_half_read_one_never_goes_back_to_the_pool(server: Served) -> None:
    async def scenario(client: httpx.AsyncClient, _: KernelTransport) -> None:
        whole = await client.get("/stream", params={"parts": 5})
        assert whole.content == b"".join(f"part-{n};".encode() * 1000 for n in range(5))
        port = (await client.get("/who")).json()["port"]
        async with client.stream("GET", "/stream", params={"parts": 50}) as streamed:
            async for _chunk in streamed.aiter_bytes():
                break  # the caller stops early
        assert (await client.get("/who")).json()["port"] != port

    _run(server.url, scenario, max_idle=1)


def test_no_body_answers_and_connection_close(server: Served) -> None:
    async def scenario(client: httpx.AsyncClient, _: KernelTransport) -> None:
        empty = await client.get("/empty")
        assert (empty.status_code, empty.content) == (204, b"")
        head = await client.head("/who")
        assert (head.status_code, head.content) == (200, b"")
        port = (await client.get("/who")).json()["port"]
        assert (await client.get("/bye")).json() == {"bye": True}
        assert (await client.get("/who")).json()["port"] != port  # the server said close

    _run(server.url, scenario, max_idle=1)


def test_a_connection_idle_past_its_expiry_or_closed_by_the_server_is_not_reused() -> None:
    with Served(_app(), keep_alive=1) as short:

        async def scenario(client: httpx.AsyncClient, _: KernelTransport) -> None:
            port = (await client.get("/who")).json()["port"]
            await asyncio.sleep(1.5)  # the server has closed it (its keep-alive is 1 s)
            answer = await client.get("/who")
            assert answer.status_code == 200
            assert answer.json()["port"] != port

        _run(short.url, scenario, keepalive_expiry=30.0)

    def expired(client: httpx.AsyncClient, _: KernelTransport) -> Awaitable[None]:
        async def scenario() -> None:
            port = (await client.get("/who")).json()["port"]
            await asyncio.sleep(0.3)
            assert (await client.get("/who")).json()["port"] != port

        return scenario()

    with Served(_app(), keep_alive=5) as long:
        _run(long.url, expired, keepalive_expiry=0.2)


def test_failures_are_httpx_transport_errors() -> None:
    async def refused() -> None:
        async with httpx.AsyncClient(transport=KernelTransport()) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"http://127.0.0.1:{free_port()}/who")
            with pytest.raises(httpx.UnsupportedProtocol):
                await client.get("https://127.0.0.1/who")

    asyncio.run(refused())

    with Served(_app(), keep_alive=5) as running:

        async def slow(client: httpx.AsyncClient, _: KernelTransport) -> None:
            started = time.monotonic()
            with pytest.raises(httpx.ReadTimeout):
                await client.get("/slow", timeout=httpx.Timeout(5.0, read=0.3))
            assert time.monotonic() - started < 1.5
            assert (await client.get("/who")).status_code == 200  # a fresh connection, not the timed-out one

        _run(running.url, slow)

    async def pool() -> None:
        with Served(_app(), keep_alive=5) as running:
            async with httpx.AsyncClient(
                base_url=running.url, transport=KernelTransport(max_connections=1), timeout=httpx.Timeout(5.0, pool=0.2)
            ) as client:
                first = asyncio.create_task(client.get("/slow"))
                await asyncio.sleep(0.1)
                with pytest.raises(httpx.PoolTimeout):
                    await client.get("/who")
                assert (await first).status_code == 200

    asyncio.run(pool())
