"""The BFF's ASGI application: the public API under ``/api``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import structlog
from fastapi import FastAPI

from cornerstone import __version__
from cornerstone.bff.auth.endpoints import router as auth_router
from cornerstone.bff.auth.tokens import TokenKeys
from cornerstone.bff.config import BffSettings
from cornerstone.bff.deals.endpoints import router as deals_router
from cornerstone.bff.health.endpoints import router as health_router
from cornerstone.bff.kernel_client.client import KernelClient
from cornerstone.bff.users.endpoints import router as users_router
from cornerstone.kit.db import Database, run_migrations
from cornerstone.kit.logging import configure_logging
from cornerstone.kit.service_app import new_service_app

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger("cornerstone.bff")


def migrate(settings: BffSettings) -> None:
    run_migrations(settings.resolved_bff_database_url(), MIGRATIONS)


def create_app(
    settings: BffSettings | None = None, *, kernel_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    settings = settings or BffSettings()
    configure_logging("bff", settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(settings.resolved_bff_database_url())
        app.state.token_keys = TokenKeys(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            signing_key=settings.resolved_jwt_signing_key(),
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        app.state.kernel = KernelClient(
            settings.kernel_url,
            settings.resolved_service_key(),
            connect_timeout=settings.kernel_connect_timeout,
            read_timeout=settings.kernel_read_timeout,
            retry_after=settings.kernel_retry_after,
            transport=kernel_transport,
        )
        log.info("bff_started", version=__version__, kernel_url=settings.kernel_url)
        yield
        await app.state.kernel.aclose()
        await app.state.database.dispose()

    app = new_service_app(title="Cornerstone API", openapi_url="/api/openapi.json", lifespan=lifespan)
    app.include_router(health_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(deals_router)
    return app
