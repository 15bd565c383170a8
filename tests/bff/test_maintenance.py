"""The sweeper deletes expired revoked tokens and idempotency records, in every org, as the app role,
and nothing that has not expired."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from sqlalchemy import func, select, update

from cornerstone.bff.maintenance import sweep_expired
from cornerstone.bff.models import IdempotencyRecordRow, RevokedTokenRow
from cornerstone.kit.clock import utcnow
from cornerstone.kit.db import Database
from tests.integration.helpers import commit, create_fund, create_investor
from tests.support import Databases, Org, sync_engine


def _logout(org: Org) -> str:
    token = org.fresh_token("analyst")
    with org.stack.client(token) as client:
        assert client.post("/api/auth/logout").status_code == 204
    return token


def _money_record(org: Org) -> str:
    key = f"sweep-{uuid.uuid4().hex}"
    with org.client() as admin:
        fund = create_fund(admin)
        investor = create_investor(admin)
        commit(admin, fund["id"], investor["id"], 1_000_00)
        created = admin.post(
            "/api/capital-calls",
            json={"fund_id": fund["id"], "amount": 100_00, "due_date": "2026-09-30", "purpose": "sweep"},
            headers={"Idempotency-Key": key},
        )
        assert created.status_code == 201, created.text
    return key


def test_expired_rows_of_every_org_are_swept_by_the_app_role_and_live_ones_kept(
    org: Org, other_org: Org, databases: Databases
) -> None:
    for tenant in (org, other_org):
        _logout(tenant)
        _logout(tenant)
        _money_record(tenant)
        _money_record(tenant)
    superuser = sync_engine(databases.bff_url)
    try:
        past = utcnow() - timedelta(minutes=1)
        with superuser.begin() as conn:
            # One of each, in each org, is aged past its expiry, as time would.
            for tenant in (org, other_org):
                for key in (RevokedTokenRow.jti, IdempotencyRecordRow.id):
                    model = key.class_
                    one = conn.execute(select(key).where(model.org_id == tenant.org_id).limit(1)).scalar_one()
                    conn.execute(update(model).where(key == one).values(expires_at=past))

        def remaining() -> dict[tuple[str, str], int]:
            with superuser.connect() as conn:
                return {
                    (model.__tablename__, tenant.org_id): conn.execute(
                        select(func.count()).select_from(model).where(model.org_id == tenant.org_id)
                    ).scalar_one()
                    for model in (RevokedTokenRow, IdempotencyRecordRow)
                    for tenant in (org, other_org)
                }

        before = remaining()

        async def sweep() -> dict[str, int]:
            database = Database(databases.bff_app_url)
            try:
                return await sweep_expired(database, utcnow())
            finally:
                await database.dispose()

        counts = asyncio.run(sweep())
        after = remaining()
    finally:
        superuser.dispose()
    # Other tests of this stack may have expired rows too; ours are exactly one per table and org.
    assert counts["revoked_tokens"] >= 2
    assert counts["idempotency_records"] >= 2
    assert after == {place: count - 1 for place, count in before.items()}
