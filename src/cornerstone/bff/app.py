"""The BFF's ASGI application: the public API under ``/api`` and the web UI's pages under ``/``."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import structlog
from fastapi import FastAPI
from starlette.middleware import Middleware

from cornerstone import __version__
from cornerstone.bff.approvals.endpoints import router as approvals_router
from cornerstone.bff.artifacts.endpoints import MULTIPART_OVERHEAD
from cornerstone.bff.artifacts.endpoints import UPLOAD_PATH as ARTIFACT_UPLOAD_PATH
from cornerstone.bff.artifacts.endpoints import router as artifacts_router
from cornerstone.bff.audit.endpoints import router as audit_router
from cornerstone.bff.audit.middleware import AuditMiddleware
from cornerstone.bff.audit.service import audit_checkpoint_key
from cornerstone.bff.auth.endpoints import router as auth_router
from cornerstone.bff.auth.generations import AuthGenerations, redis_client_of
from cornerstone.bff.auth.tokens import TokenKeys
from cornerstone.bff.capital_calls.endpoints import router as capital_calls_router
from cornerstone.bff.checklists.endpoints import router as checklists_router
from cornerstone.bff.config import BffSettings
from cornerstone.bff.csrf import CsrfMiddleware
from cornerstone.bff.deals.endpoints import router as deals_router
from cornerstone.bff.debug.endpoints import router as debug_router
from cornerstone.bff.distributions.endpoints import router as distributions_router
from cornerstone.bff.evidence_pack.endpoints import router as evidence_pack_router
from cornerstone.bff.funds.endpoints import router as funds_router
from cornerstone.bff.health.endpoints import router as health_router
from cornerstone.bff.investors.endpoints import router as investors_router
from cornerstone.bff.kernel_client.client import KernelClient
from cornerstone.bff.maintenance import run_sweeper
from cornerstone.bff.materials.endpoints import router as materials_router
from cornerstone.bff.openapi import install_openapi
from cornerstone.bff.orgs.endpoints import router as org_settings_router
from cornerstone.bff.overrides.endpoints import router as overrides_router
from cornerstone.bff.parties.endpoints import router as parties_router
from cornerstone.bff.portfolio.endpoints import router as portfolio_router
from cornerstone.bff.ratelimit import CounterStore, RateLimiter, RateLimitMiddleware
from cornerstone.bff.users.endpoints import router as users_router
from cornerstone.bff.web.errors import PageErrorsMiddleware
from cornerstone.bff.web.pages import DOCUMENT_UPLOAD_PAGE, STATIC_PREFIX, include_pages
from cornerstone.kit.client_address import ClientAddressMiddleware, TrustedProxies
from cornerstone.kit.cors import CORSMiddleware
from cornerstone.kit.db import Database, run_migrations, warn_if_row_security_bypassed
from cornerstone.kit.db_metrics import track_pool
from cornerstone.kit.logging import configure_logging
from cornerstone.kit.metrics_endpoint import install_metrics_endpoint
from cornerstone.kit.request_body import RequestBodyMiddleware, StreamedBodyRoute
from cornerstone.kit.service_app import ASGIMiddleware, freeze_startup_objects, new_service_app

MIGRATIONS = Path(__file__).parent / "migrations"

log = structlog.get_logger("cornerstone.bff")


def migrate(settings: BffSettings) -> None:
    run_migrations(settings.resolved_bff_migration_database_url(), MIGRATIONS)


def perimeter_middleware(settings: BffSettings, store: CounterStore) -> list[type[ASGIMiddleware] | Middleware]:
    """The layers between the request context and the routes, outermost first, and why in this order.

    1. client address: resolve the client behind trusted proxies first, so every later layer
       (limits, audit records, CSRF origin check) sees the same client and scheme;
    2. CORS: outside everything that can refuse, so a 413 or 429 still reaches the allowed page;
       answers preflights itself;
    3. audit: around every refusal below, so a refused mutating request still leaves one record;
    4. rate limit: before any body is read, any token is looked up in the database, or any route runs;
    5. CSRF: needs headers and cookies only;
    6. request body: size and JSON complexity, just before the route parses it; the artifact upload
       alone may be larger (its own limit) and streams through unbuffered.
    """
    allowed_origins = settings.allowed_origins()
    upload_limit = max(settings.max_body_bytes, settings.artifact_max_bytes + MULTIPART_OVERHEAD)
    limiter = RateLimiter(
        store,
        per_minute=settings.rate_limit_per_minute,
        login_per_minute=settings.login_rate_limit_per_minute,
        login_failures=settings.login_failures_per_account,
        login_failure_window=settings.login_failure_window_seconds,
    )
    return [
        Middleware(ClientAddressMiddleware, trusted=TrustedProxies(settings.trusted_proxy_networks())),
        Middleware(CORSMiddleware, allowed_origins=allowed_origins),
        AuditMiddleware,
        Middleware(RateLimitMiddleware, limiter=limiter),
        Middleware(CsrfMiddleware, allowed_origins=allowed_origins),
        Middleware(
            RequestBodyMiddleware,
            max_body_bytes=settings.max_body_bytes,
            max_json_depth=settings.max_json_depth,
            max_json_keys=settings.max_json_keys,
            streamed_routes=[
                StreamedBodyRoute(path=path, method="POST", max_bytes=upload_limit)
                for path in (ARTIFACT_UPLOAD_PATH, DOCUMENT_UPLOAD_PAGE)
            ],
        ),
    ]


def create_app(
    settings: BffSettings | None = None,
    *,
    perimeter: bool = True,
) -> FastAPI:
    """The BFF. ``perimeter=False`` builds it without rate limits, CORS, CSRF, proxy resolution and body
    limits - for benchmarks measuring what the perimeter costs; deliberately no setting turns it off."""
    settings = settings or BffSettings()
    configure_logging("bff", settings.log_level)
    store = CounterStore(
        settings.redis_url if perimeter else None,
        key_prefix=settings.redis_key_prefix,
        timeout=settings.redis_timeout_seconds,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.database = Database(settings.resolved_bff_database_url())
        app.state.metrics_token = settings.resolved_metrics_token()
        app.state.idempotency_lease = timedelta(seconds=settings.idempotency_lease_seconds)
        untrack_pool = track_pool("bff", app.state.database)
        app.state.token_keys = TokenKeys(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            keyring=settings.token_keyring(),
            ttl_seconds=settings.access_token_ttl_seconds,
        )
        service_key = settings.resolved_service_key()
        # The audit trail's signed checkpoints (bff.audit) use a key derived from the service key.
        app.state.audit_checkpoint_key = audit_checkpoint_key(service_key)
        app.state.kernel = KernelClient(
            settings.kernel_url,
            service_key,
            connect_timeout=settings.kernel_connect_timeout,
            read_timeout=settings.kernel_read_timeout,
            retry_after=settings.kernel_retry_after,
            breaker=settings.kernel_breaker(),
            retry=settings.kernel_retry(),
        )
        log.info(
            "bff_started",
            version=__version__,
            kernel_url=settings.kernel_url,
            perimeter=perimeter,
            rate_limit_storage=store.backend if perimeter else None,
        )
        await warn_if_row_security_bypassed(app.state.database, log)
        freeze_startup_objects()  # as the kernel does: full collections no longer walk the app's own objects
        sweeper = asyncio.create_task(run_sweeper(app.state.database, settings.sweep_interval_seconds))
        yield
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
        await app.state.kernel.aclose()
        untrack_pool()
        await app.state.database.dispose()
        await app.state.auth_generations.aclose()
        await store.aclose()

    app = new_service_app(
        title="Cornerstone API",
        service="bff",
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
        inner_middleware=perimeter_middleware(settings, store) if perimeter else [AuditMiddleware],
        outer_middleware=[PageErrorsMiddleware],
        cacheable_prefixes=(STATIC_PREFIX,),
    )
    app.include_router(health_router)
    install_metrics_endpoint(app)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(deals_router)
    app.include_router(audit_router)
    app.include_router(funds_router)
    app.include_router(investors_router)
    app.include_router(capital_calls_router)
    app.include_router(distributions_router)
    app.include_router(portfolio_router)
    app.include_router(artifacts_router)
    app.state.artifact_max_bytes = settings.artifact_max_bytes
    app.include_router(parties_router)
    app.include_router(approvals_router)
    app.include_router(materials_router)
    app.include_router(overrides_router)
    app.include_router(checklists_router)
    app.include_router(evidence_pack_router)
    app.include_router(org_settings_router)
    app.include_router(debug_router)
    app.state.rate_limit_store = store
    # The token check's auth generations share the limiter's Redis connection (auth.generations).
    app.state.auth_generations = AuthGenerations(redis_client_of(store), key_prefix=settings.redis_key_prefix)
    app.state.allowed_origins = settings.allowed_origins()
    include_pages(app)
    install_openapi(app)
    return app
