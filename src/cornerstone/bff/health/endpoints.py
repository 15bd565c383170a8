"""Liveness and readiness probes."""

from __future__ import annotations

import structlog
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from cornerstone.bff.authz.permissions import public
from cornerstone.bff.kernel_client.client import KernelClient
from cornerstone.kit.db import Database

router = APIRouter(tags=["health"], dependencies=[Depends(public)])
log = structlog.get_logger("cornerstone.bff.health")


@router.get("/healthz")
async def healthz() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """The database answers and the kernel is ready; 503 otherwise."""
    database: Database = request.app.state.database
    kernel: KernelClient = request.app.state.kernel
    try:
        await database.ping()
        database_up = True
    except Exception:
        log.exception("readiness_database_failed")
        database_up = False
    kernel_up = await kernel.ready()
    ok = database_up and kernel_up
    return JSONResponse(
        {"status": "ok" if ok else "unavailable", "database": _word(database_up), "kernel": _word(kernel_up)},
        status_code=200 if ok else 503,
    )


def _word(up: bool) -> str:
    return "up" if up else "down"
