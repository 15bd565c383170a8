"""What every Cornerstone HTTP service is built with: the problem handlers and the middleware stack."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import uvicorn
from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from cornerstone import __version__
from cornerstone.kit.http_metrics import HttpMetricsMiddleware
from cornerstone.kit.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from cornerstone.kit.problems import install_problem_handlers


class ASGIMiddleware(Protocol):
    def __init__(self, app: ASGIApp) -> None: ...

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None: ...


def freeze_startup_objects() -> None:
    """Move everything alive once the app has started (modules, routes, models, the ORM's
    mappers) out of the garbage collector's sight. They live as long as the process, yet every
    full collection would walk all of them again; a money request that builds tens of thousands
    of short-lived objects triggers such collections, and each then costs a walk of the whole heap."""
    gc.collect()
    gc.freeze()


def new_service_app(
    *,
    title: str,
    service: str,
    openapi_url: str | None,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
    inner_middleware: Sequence[type[ASGIMiddleware] | Middleware] = (),
    outer_middleware: Sequence[type[ASGIMiddleware]] = (),
    cacheable_prefixes: tuple[str, ...] = (),
) -> FastAPI:
    """A FastAPI app with RFC 9457 errors, request ids, access logs and the security headers.

    Middleware order (outermost first): security headers, so even a crash's 500 carries them;
    then the request context, which catches the crash and renders the problem body; then the HTTP
    metrics, labelled ``service``, which see every answer's final status (a crash counted as 500); then
    ``inner_middleware`` in the order given (outermost first), which see the request id. An entry is
    a middleware class, or a ``starlette.middleware.Middleware`` for one that takes arguments.
    ``outer_middleware`` sits between the security headers and the request context: it sees every
    answer as the client will, the request context's own 500 included. Paths under
    ``cacheable_prefixes`` (content-addressed static files) may be cached by browsers.
    """
    app = FastAPI(
        title=title,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=openapi_url,
    )
    install_problem_handlers(app)
    for middleware in reversed(inner_middleware):
        if isinstance(middleware, Middleware):
            app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
        else:
            app.add_middleware(middleware)
    app.add_middleware(HttpMetricsMiddleware, service=service)
    app.add_middleware(RequestContextMiddleware)
    for middleware in reversed(outer_middleware):
        app.add_middleware(middleware)
    app.add_middleware(SecurityHeadersMiddleware, cacheable_prefixes=cacheable_prefixes)
    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run ``app`` under uvicorn with our logging and without a ``Server`` header.

    uvicorn's proxy-header handling is off: by default it believes ``X-Forwarded-For`` from any
    loopback peer, which would let a local client choose its own address. Client addresses are
    resolved by ``kit.client_address`` against the configured trusted proxies instead.
    """
    uvicorn.run(app, host=host, port=port, server_header=False, log_config=None, access_log=False, proxy_headers=False)
