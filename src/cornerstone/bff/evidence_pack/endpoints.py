"""A deal's evidence pack: the kernel builds and signs it; this authorizes and streams it through."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import StreamingResponse

from cornerstone.bff.auth.dependencies import Principal, require
from cornerstone.bff.authz.permissions import Permission
from cornerstone.bff.kernel_client.dependencies import Kernel

router = APIRouter(tags=["evidence"])

# The kernel's headers passed on: the zip's type, length and file name.
_PACK_HEADERS = ("content-type", "content-length", "content-disposition")

Reader = Annotated[Principal, Depends(require(Permission.EVIDENCE_PACK_READ))]
# Put into the kernel's URL path: only characters that cannot change that URL.
DealId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


@router.get(
    "/api/deals/{deal_id}/evidence-pack",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The evidence pack (a zip)."}},
)
async def download_evidence_pack(deal_id: DealId, user: Reader, kernel: Kernel) -> StreamingResponse:
    """The deal's evidence pack, as a zip attachment: ``manifest.json`` (every member's SHA-256, the
    org's event-chain head, ``generated_at``), ``manifest.sig`` (Ed25519 over the manifest), the deal,
    its hash-chained events, materials with every revision, approvals, overrides, checklist and
    artifact index, and artifact bytes within the kernel's caps. Deterministic: the same records give
    the same bytes. Check it offline with ``cornerstone evidence verify PACK.zip``."""
    download = await kernel.download(f"/deals/{deal_id}/evidence-pack", user)
    headers = {name: download.headers[name] for name in _PACK_HEADERS if name in download.headers}
    return StreamingResponse(download.chunks(), headers=headers)
