"""The deals pages of the web UI (planned: routes are added here)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["ui"], include_in_schema=False)
