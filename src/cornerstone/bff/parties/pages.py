"""The parties forms of the web UI's deal page (planned: routes are added here)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ui"], include_in_schema=False)
