"""Alembic environment of the kernel's own migration history."""

from cornerstone.kernel.models import Base
from cornerstone.kit.db import run_alembic_env

run_alembic_env(Base.metadata)
