"""The web UI, assembled: every feature's page routes, the static files and the page-aware
error handlers. Pages live beside their feature (``deals/pages.py``, ``funds/pages.py``, ...),
templates under ``web/templates/<feature>/``."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from cornerstone.bff.artifacts.pages import router as artifact_pages
from cornerstone.bff.audit.pages import router as audit_pages
from cornerstone.bff.auth.pages import router as auth_pages
from cornerstone.bff.capital_calls.pages import router as capital_call_pages
from cornerstone.bff.checklists.pages import router as checklist_pages
from cornerstone.bff.deals.pages import router as deal_pages
from cornerstone.bff.distributions.pages import router as distribution_pages
from cornerstone.bff.funds.pages import router as fund_pages
from cornerstone.bff.investors.pages import router as investor_pages
from cornerstone.bff.materials.pages import router as material_pages
from cornerstone.bff.orgs.pages import router as org_pages
from cornerstone.bff.overrides.pages import router as override_pages
from cornerstone.bff.parties.pages import router as party_pages
from cornerstone.bff.portfolio.pages import router as portfolio_pages
from cornerstone.bff.users.pages import router as user_pages
from cornerstone.bff.web.errors import install_page_handlers
from cornerstone.bff.web.templating import STATIC

STATIC_PREFIX = "/static/"
# The one page route whose body is a file: it may be as large as an artifact (streamed through).
DOCUMENT_UPLOAD_PAGE = "/deals/{deal_id}/documents"

PAGE_ROUTERS = (
    auth_pages,
    deal_pages,
    material_pages,
    artifact_pages,
    checklist_pages,
    party_pages,
    override_pages,
    fund_pages,
    capital_call_pages,
    distribution_pages,
    investor_pages,
    portfolio_pages,
    user_pages,
    org_pages,
    audit_pages,
)


def include_pages(app: FastAPI) -> None:
    for router in PAGE_ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX.rstrip("/"), StaticFiles(directory=STATIC), name="static")
    install_page_handlers(app)
