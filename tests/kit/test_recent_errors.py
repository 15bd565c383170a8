"""The recent errors buffer behind ``/api/debug/errors``: a crash and a 5xx problem are kept with
what finds their log lines (request id, route template, status, code, kind), and nothing else."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from cornerstone.kit.problems import ServiceUnavailable
from cornerstone.kit.recent_errors import RECENT_ERRORS, RecentErrors
from cornerstone.kit.service_app import new_service_app

SECRET = "tax id 123-45-6789 and Bearer eyJhbGciOiJIUzI1NiJ9.secret"


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield


def _app() -> FastAPI:
    app = new_service_app(title="errors", openapi_url=None, lifespan=_lifespan, service="errors-test")

    @app.get("/crash/{item_id}")
    async def crash(item_id: str) -> None:
        raise ValueError(f"{SECRET} {item_id}")

    @app.get("/outage")
    async def outage() -> None:
        raise ServiceUnavailable(SECRET)

    @app.get("/fine")
    async def fine() -> dict[str, str]:
        return {"ok": SECRET}

    return app


async def _get(app: FastAPI, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers={"X-Request-ID": "errors-test-1", "Authorization": SECRET})


def test_a_crash_and_a_5xx_problem_are_kept_without_messages_bodies_or_headers() -> None:
    RECENT_ERRORS.clear()
    app = _app()
    crashed = asyncio.run(_get(app, "/crash/555-44-3333"))
    refused = asyncio.run(_get(app, "/outage"))
    asyncio.run(_get(app, "/fine"))
    assert crashed.status_code == 500
    assert refused.status_code == 503
    newest, oldest = RECENT_ERRORS.latest(10)
    assert (oldest.request_id, oldest.route, oldest.status, oldest.code, oldest.error, oldest.dependency) == (
        "errors-test-1",
        "/crash/{item_id}",
        500,
        "INTERNAL_ERROR",
        "unhandled ValueError",
        None,
    )
    assert (newest.route, newest.status, newest.code, newest.error) == (
        "/outage",
        503,
        "SERVICE_UNAVAILABLE",
        "status 503",
    )
    for item in (newest, oldest):
        text = repr(item.as_dict())
        for leak in ("123-45-6789", "555-44-3333", "eyJ", "Bearer", "secret"):
            assert leak not in text


def test_the_buffer_is_bounded_and_newest_first() -> None:
    buffer = RecentErrors(capacity=3)
    for status in (500, 502, 503, 504):
        buffer.record_server_error(route="/x", status=status, code=None, error=f"status {status}")
    assert [item.status for item in buffer.latest(10)] == [504, 503, 502]
    assert [item.status for item in buffer.latest(1)] == [504]
