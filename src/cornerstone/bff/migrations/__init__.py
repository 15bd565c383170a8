"""The BFF's Alembic history (``env.py``, ``versions/``)."""

# The group role the BFF's runtime login role must be a member of (PostgreSQL). The migrations
# grant this role what the BFF needs on each table and nothing more; it owns nothing.
DATABASE_APP_ROLE = "cornerstone_bff_app"
