from __future__ import annotations

from typing import cast

from sqlalchemy import Table
from sqlalchemy.orm import DeclarativeBase

from cornerstone.kit.db import new_metadata


class Base(DeclarativeBase):
    metadata = new_metadata()


def table_of(model: type[Base]) -> Table:
    """The model's table, for core statements that skip the ORM's per-object bookkeeping
    (bulk inserts of thousands of allocation or ledger rows)."""
    return cast(Table, model.__table__)
