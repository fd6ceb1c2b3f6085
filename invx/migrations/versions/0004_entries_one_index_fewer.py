"""Entries: one index fewer to write, and an entry's account is its series' account.

A unique (account, id) already makes an entry id unique within its series, so the unique
(series, id) goes: every entry written updates one index fewer. The foreign key to the
series becomes (series, account), so the database itself keeps an entry in its series'
account, which is what makes the two uniques equivalent.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("series") as batch_op:
        batch_op.create_unique_constraint(op.f("uq_series_id_account_id"), ["id", "account_id"])
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(op.f("uq_entries_series_id_id"), type_="unique")
        batch_op.drop_constraint(op.f("fk_entries_series_id_series"), type_="foreignkey")
        batch_op.create_foreign_key(op.f("fk_entries_series_id_series"), "series",
                                    ["series_id", "account_id"], ["id", "account_id"],
                                    ondelete="CASCADE")


def downgrade():
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(op.f("fk_entries_series_id_series"), type_="foreignkey")
        batch_op.create_foreign_key(op.f("fk_entries_series_id_series"), "series",
                                    ["series_id"], ["id"], ondelete="CASCADE")
        batch_op.create_unique_constraint(op.f("uq_entries_series_id_id"), ["series_id", "id"])
    with op.batch_alter_table("series") as batch_op:
        batch_op.drop_constraint(op.f("uq_series_id_account_id"), type_="unique")
