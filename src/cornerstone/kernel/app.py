"""The kernel's ASGI application (internal; every route but the probes needs the service credential)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from cornerstone import __version__
from cornerstone.kernel.approvals.endpoints import router as approvals_router
from cornerstone.kernel.artifacts.endpoints import router as artifacts_router
from cornerstone.kernel.artifacts.service import storage_of
from cornerstone.kernel.capital_calls.endpoints import router as capital_calls_router
from cornerstone.kernel.checklists.endpoints import router as checklists_router
from cornerstone.kernel.config import KernelSettings
from cornerstone.kernel.deals.endpoints import router as deals_router
from cornerstone.kernel.distributions.endpoints import router as distributions_router
from cornerstone.kernel.errors import install_data_error_handler
from cornerstone.kernel.events.endpoints import router as events_router
from cornerstone.kernel.events.service import events_checkpoint_key
from cornerstone.kernel.evidence_pack.endpoints import router as evidence_pack_router
from cornerstone.kernel.evidence_pack.service import ArtifactCaps
from cornerstone.kernel.evidence_pack.signing import load_or_create_signer
from cornerstone.kernel.funds.endpoints import router as funds_router
from cornerstone.kernel.investors.endpoints import router as investors_router
from cornerstone.kernel.materials.endpoints import router as materials_router
from cornerstone.kernel.org_settings.endpoints import router as org_settings_router
from cornerstone.kernel.overrides.endpoints import router as overrides_router
from cornerstone.kernel.parties.endpoints import router as parties_router
from cornerstone.kit.db import Database, run_migrations, warn_if_row_security_bypassed
from cornerstone.kit.db_metrics import track_pool
from cornerstone.kit.logging import configure_logging
from cornerstone.kit.metrics_endpoint import install_metrics_endpoint
from cornerstone.kit.money import configure_money_date_window
from cornerstone.kit.service_app import freeze_startup_objects, new_service_app

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger("cornerstone.kernel")


def migrate(settings: KernelSettings) -> None:
    run_migrations(settings.resolved_kernel_migration_database_url(), MIGRATIONS)


def create_app(settings: KernelSettings | None = None) -> FastAPI:
    settings = settings or KernelSettings()
    configure_logging("kernel", settings.log_level)
    configure_money_date_window(settings.money_date_window())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(settings.resolved_kernel_database_url())
        app.state.service_key = settings.resolved_service_key()
        app.state.events_checkpoint_key = events_checkpoint_key(app.state.service_key)
        app.state.metrics_token = settings.resolved_metrics_token()
        untrack_pool = track_pool("kernel", app.state.database)
        app.state.field_cipher = settings.field_cipher()
        app.state.artifact_storage = storage_of(settings)
        app.state.evidence_signer = load_or_create_signer(settings.data_dir)
        app.state.evidence_caps = ArtifactCaps(
            per_file=settings.evidence_pack_artifact_max_bytes, total=settings.evidence_pack_artifacts_total_bytes
        )
        log.info("kernel_started", version=__version__)
        await warn_if_row_security_bypassed(app.state.database, log)
        freeze_startup_objects()
        yield
        untrack_pool()
        await app.state.database.dispose()

    app = new_service_app(title="Cornerstone kernel", service="kernel", openapi_url=None, lifespan=lifespan)
    install_metrics_endpoint(app)  # its own token, not the service credential of the routes below
    install_data_error_handler(app)
    app.include_router(deals_router)
    app.include_router(events_router)
    app.include_router(funds_router)
    app.include_router(investors_router)
    app.include_router(capital_calls_router)
    app.include_router(distributions_router)
    app.include_router(artifacts_router)
    app.include_router(parties_router)
    app.include_router(approvals_router)
    app.include_router(materials_router)
    app.include_router(overrides_router)
    app.include_router(evidence_pack_router)
    app.include_router(org_settings_router)
    app.include_router(checklists_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        try:
            await app.state.database.ping()
        except Exception:
            log.exception("readiness_database_failed")
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    return app
