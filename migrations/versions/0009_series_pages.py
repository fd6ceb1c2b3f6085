"""Series: listed by page, so their index is (account, created_at, id).

``GET /sequence/v1/series`` answers a page: the account's series in (created_at, id) order,
after the cursor's (created_at, id), ``limit`` + 1 rows. An index on exactly those columns
serves it as one range of the index, read in order, with no sort, whatever the size of the
account (the index on (account, created_at) left the ties of a sequence's sub-series, made
in one transaction, to be sorted). The new index replaces that one, which it covers.

On PostgreSQL the index is built CONCURRENTLY, so a large table keeps taking writes
meanwhile; a build that failed half-way leaves an invalid index, dropped on the next try.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

NEW, OLD = "ix_series_account_id_created_at_id", "ix_series_account_id_created_at"


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NEW}")
            op.execute(f"CREATE INDEX CONCURRENTLY {NEW} ON series (account_id, created_at, id)")
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD}")
        return
    op.create_index(NEW, "series", ["account_id", "created_at", "id"])
    op.drop_index(OLD, "series")


def downgrade():
    op.create_index(OLD, "series", ["account_id", "created_at"])
    op.drop_index(NEW, "series")
