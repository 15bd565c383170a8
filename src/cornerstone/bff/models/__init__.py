"""BFF tables; ``Base.metadata`` is the target of the BFF's migrations."""

from cornerstone.bff.models.base import Base
from cornerstone.bff.models.org import OrgRow
from cornerstone.bff.models.user import UserRow

__all__ = ["Base", "OrgRow", "UserRow"]
