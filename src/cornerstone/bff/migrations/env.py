"""Alembic environment of the BFF's own migration history."""

from cornerstone.bff.migrations import DATABASE_APP_ROLE
from cornerstone.bff.models import Base
from cornerstone.kit.db import run_alembic_env

run_alembic_env(Base.metadata, app_role=DATABASE_APP_ROLE)
