"""BFF tables; ``Base.metadata`` is the target of the BFF's migrations."""

from cornerstone.bff.models.audit_checkpoint import AuditCheckpointRow
from cornerstone.bff.models.audit_record import AuditRecordRow
from cornerstone.bff.models.base import Base
from cornerstone.bff.models.idempotency_record import IdempotencyRecordRow
from cornerstone.bff.models.org import OrgRow
from cornerstone.bff.models.revoked_token import RevokedTokenRow
from cornerstone.bff.models.user import UserRow

__all__ = [
    "AuditCheckpointRow",
    "AuditRecordRow",
    "Base",
    "IdempotencyRecordRow",
    "OrgRow",
    "RevokedTokenRow",
    "UserRow",
]
