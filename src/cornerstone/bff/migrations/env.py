"""Alembic environment of the BFF's own migration history."""

from cornerstone.bff.models import Base
from cornerstone.kit.db import run_alembic_env

run_alembic_env(Base.metadata)
