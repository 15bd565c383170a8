"""What every Cornerstone HTTP service is built with: the problem handlers and the middleware stack."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import uvicorn
from fastapi import FastAPI

from cornerstone import __version__
from cornerstone.kit.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from cornerstone.kit.problems import install_problem_handlers


def new_service_app(
    *, title: str, openapi_url: str | None, lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]]
) -> FastAPI:
    """A FastAPI app with RFC 9457 errors, request ids, access logs and the security headers.

    Middleware order (outermost first): security headers, so even a crash's 500 carries them;
    then the request context, which catches the crash and renders the problem body.
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
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app


def serve(app: FastAPI, host: str, port: int) -> None:
    """Run ``app`` under uvicorn with our logging and without a ``Server`` header."""
    uvicorn.run(app, host=host, port=port, server_header=False, log_config=None, access_log=False)
