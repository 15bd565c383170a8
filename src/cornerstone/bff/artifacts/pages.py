"""The deal page's Documents form: upload a file to the deal. The file goes on to the API's
artifact route in chunks (never held whole in memory); the kernel types it from its bytes,
stores it by SHA-256 and refuses what it does not accept, and the page says why in plain words."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile  # what request.form() gives (FastAPI's is a subclass)
from starlette.responses import Response

from cornerstone.bff.audit.middleware import audited
from cornerstone.bff.materials.pages import ObjectId, show_problem
from cornerstone.bff.web.api import ApiProblem, Upload
from cornerstone.bff.web.forms import form_problem
from cornerstone.bff.web.session import OriginCheckedBeforeBody, PageUser, check_form_token
from cornerstone.bff.web.templating import redirect

router = APIRouter(tags=["ui"], include_in_schema=False)

# The same path as ``bff.web.pages.DOCUMENT_UPLOAD_PAGE``, whose body the perimeter lets through as
# large as an artifact and unbuffered (that module imports this one, so the text is repeated here).
DOCUMENT_UPLOAD_PAGE = "/deals/{deal_id}/documents"
_CHUNK = 1 << 16
_FILENAME_MAX = 255
ACCEPTED = (
    "Upload a PDF, a PNG, JPEG, GIF, WEBP or TIFF image, an Office document (Word, Excel, PowerPoint), "
    "a CSV or a UTF-8 text file. The type is read from the file's contents, not its name."
)


async def _chunks(file: UploadFile) -> AsyncIterator[bytes]:
    await file.seek(0)
    while chunk := await file.read(_CHUNK):
        yield chunk


def _size_of(file: UploadFile) -> int:
    if file.size is not None:
        return file.size
    file.file.seek(0, os.SEEK_END)
    size = file.file.tell()
    file.file.seek(0)
    return size


def _mebibytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def plain_problem(problem: ApiProblem, filename: str, max_bytes: int) -> ApiProblem:
    """The API's refusal of a file, said plainly, next to the file field."""
    if problem.status == 415:
        return form_problem(
            {"file": f"This file type is not accepted: {filename}."},
            f"This file type is not accepted: {filename}. {ACCEPTED}",
            title="File not accepted",
            status=415,
            code=problem.code,
        )
    if problem.status == 413:
        return form_problem(
            {"file": f"This file is too large (at most {_mebibytes(max_bytes)})."},
            f"This file is too large: {filename}. A document may be at most {_mebibytes(max_bytes)}.",
            title="File too large",
            status=413,
            code=problem.code,
        )
    if problem.status == 422:
        message = problem.for_field("file") or problem.detail
        return form_problem(
            {"file": message},
            f"This file could not be stored: {filename}. {message}",
            title="File not accepted",
            code=problem.code,
        )
    return problem


@router.post(
    DOCUMENT_UPLOAD_PAGE, dependencies=[OriginCheckedBeforeBody], openapi_extra=audited("artifact.upload", "artifact")
)
async def upload_document(request: Request, session: PageUser, deal_id: ObjectId) -> Response:
    """Attach the chosen file to the deal (the Documents section's **Upload**). The session and the
    origin are checked before the body is read; the form's CSRF token once it is parsed."""
    form = await request.form(max_files=1, max_fields=4)
    token = form.get("csrf_token")
    check_form_token(request, token if isinstance(token, str) else None)
    chosen = form.get("file")
    file = chosen if isinstance(chosen, UploadFile) else None
    max_bytes: int = request.app.state.artifact_max_bytes
    if file is None or not file.filename:
        problem = form_problem({"file": "Choose a file to upload."}, "Choose a file to upload.", title="No file chosen")
        return await show_problem(request, session, deal_id, problem, "documents")
    filename = file.filename.replace("\\", "/").rsplit("/", 1)[-1][:_FILENAME_MAX] or "upload"
    size = _size_of(file)
    try:
        if size == 0:
            problem = form_problem(
                {"file": "This file is empty."}, f"This file is empty: {filename}.", title="Empty file"
            )
            return await show_problem(request, session, deal_id, problem, "documents")
        if size > max_bytes:
            problem = plain_problem(form_problem(None, "", status=413, code="PAYLOAD_TOO_LARGE"), filename, max_bytes)
            return await show_problem(request, session, deal_id, problem, "documents")
        try:
            await session.api.upload(
                f"/api/deals/{deal_id}/artifacts",
                Upload(
                    name="file",
                    filename=filename,
                    content_type=file.content_type or "application/octet-stream",
                    size=size,
                    stream=_chunks(file),
                ),
            )
        except ApiProblem as problem:
            return await show_problem(
                request, session, deal_id, plain_problem(problem, filename, max_bytes), "documents"
            )
    finally:
        await file.close()
    return redirect(f"/deals/{deal_id}?notice=document_uploaded#documents")
