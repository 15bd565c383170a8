"""The kernel's Alembic history (``env.py``, ``versions/``)."""

# The group role the kernel's runtime login role must be a member of (PostgreSQL). The migrations
# grant this role what the kernel needs on each table and nothing more; it owns nothing.
DATABASE_APP_ROLE = "cornerstone_kernel_app"
