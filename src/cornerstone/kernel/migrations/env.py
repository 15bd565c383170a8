"""Alembic environment of the kernel's own migration history."""

from cornerstone.kernel.migrations import DATABASE_APP_ROLE
from cornerstone.kernel.models import Base
from cornerstone.kit.db import run_alembic_env

run_alembic_env(Base.metadata, app_role=DATABASE_APP_ROLE)
