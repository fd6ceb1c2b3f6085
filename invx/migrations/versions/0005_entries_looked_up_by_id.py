"""Entries: a unique (id, account) instead of (account, id), and no foreign key to accounts.

A batch of entries looks its ids up in the account (``e.account_id = s.account_id AND e.id
= ANY($3)``), with a plan PostgreSQL keeps for the connection (a prepared statement). With
the account first in the index, the planner may choose to walk all of the account's
entries and filter them by id, and it did: when the plan was made on a small table (a new
database, or statistics not yet refreshed), or when the account is much larger than the
average one (a generic plan estimates an account by the average). Every batch then read the
whole account: on one hot series, the database's CPU per request grew from 0.3 to 1.8 ms
over six runs of 5 s. With the id first, an index scan can only go by the ids.

The foreign key to accounts is redundant: the one to (series, account) makes an entry's
account its series' account, whose own foreign key to accounts cascades. It cost a check
per row written, and, without an index led by the account, deleting an account would have
scanned the table to cascade it.

On PostgreSQL the new index is built CONCURRENTLY, so a large table keeps taking writes
meanwhile; a build that failed half-way leaves an invalid index, dropped on the next try.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""
from alembic import op
from sqlalchemy.sql.elements import conv  # op.f, usable before a migration runs

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEW, OLD = conv("uq_entries_id_account_id"), conv("uq_entries_account_id_id")
FOREIGN_KEY = conv("fk_entries_account_id_accounts")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {NEW}")
            op.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {NEW} ON entries (id, account_id)")
        op.execute(f"ALTER TABLE entries ADD CONSTRAINT {NEW} UNIQUE USING INDEX {NEW}")
        op.drop_constraint(OLD, "entries", type_="unique")
        op.drop_constraint(FOREIGN_KEY, "entries", type_="foreignkey")
        return
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch_op.drop_constraint(OLD, type_="unique")
        batch_op.create_unique_constraint(NEW, ["id", "account_id"])


def downgrade():
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(NEW, type_="unique")
        batch_op.create_unique_constraint(OLD, ["account_id", "id"])
        batch_op.create_foreign_key(FOREIGN_KEY, "accounts", ["account_id"], ["id"],
                                    ondelete="CASCADE")
