"""Kernel tables, one per module; ``Base.metadata`` is the target of the kernel's migrations."""

from cornerstone.kernel.models.base import Base
from cornerstone.kernel.models.deal import DealRow
from cornerstone.kernel.models.event import EventRow

__all__ = ["Base", "DealRow", "EventRow"]
