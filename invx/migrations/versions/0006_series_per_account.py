"""Series ids belong to their account: the primary key of series is (id, account_id).

Before, a series' UUID was unique across the whole server: a client could learn that
another account had a series with a given id (409) and claim ids before their owner did.
Now each account has its own space of ids, as it already had for entries; an entry's
number is unique in its series, which is (id, account). The foreign key from entries to
their series moves to the new primary key (it referred to the unique (id, account_id),
which the primary key replaces).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""
from alembic import op
from sqlalchemy.sql.elements import conv  # op.f, usable before a migration runs

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SERIES_PK, SERIES_UNIQUE = conv("pk_series"), conv("uq_series_id_account_id")
ENTRY_SERIES = conv("fk_entries_series_id_series")
OLD_NUMBER, NEW_NUMBER = conv("uq_entries_series_id_number"), conv(
    "uq_entries_series_id_account_id_number")


def _entries_to_series(batch_op):
    batch_op.create_foreign_key(ENTRY_SERIES, "series", ["series_id", "account_id"],
                                ["id", "account_id"], ondelete="CASCADE")


def upgrade():
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(ENTRY_SERIES, type_="foreignkey")
        batch_op.drop_constraint(OLD_NUMBER, type_="unique")
        batch_op.create_unique_constraint(NEW_NUMBER, ["series_id", "account_id", "number"])
    with op.batch_alter_table("series") as batch_op:
        batch_op.drop_constraint(SERIES_UNIQUE, type_="unique")
        batch_op.drop_constraint(SERIES_PK, type_="primary")
        batch_op.create_primary_key(SERIES_PK, ["id", "account_id"])
    with op.batch_alter_table("entries") as batch_op:
        _entries_to_series(batch_op)


def downgrade():
    # Fails, as it should, once two accounts have a series of the same id.
    with op.batch_alter_table("entries") as batch_op:
        batch_op.drop_constraint(ENTRY_SERIES, type_="foreignkey")
        batch_op.drop_constraint(NEW_NUMBER, type_="unique")
        batch_op.create_unique_constraint(OLD_NUMBER, ["series_id", "number"])
    with op.batch_alter_table("series") as batch_op:
        batch_op.drop_constraint(SERIES_PK, type_="primary")
        batch_op.create_primary_key(SERIES_PK, ["id"])
        batch_op.create_unique_constraint(SERIES_UNIQUE, ["id", "account_id"])
    with op.batch_alter_table("entries") as batch_op:
        _entries_to_series(batch_op)
