"""Verification checkpoints: how far each series was verified.

So that ``GET .../verify`` checks only the entries after it: a series of a million entries
took minutes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "verification_checkpoints",
        sa.Column("series_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("entry_id", sa.String(length=36), nullable=False),
        sa.Column("sig_sha256", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        # To (id, account_id): the unique constraint entries refer to, which a primary key
        # on the same columns replaces when series ids become per account.
        sa.ForeignKeyConstraint(["series_id", "account_id"], ["series.id", "series.account_id"],
                                name=op.f("fk_verification_checkpoints_series_id_series"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("series_id", "account_id",
                                name=op.f("pk_verification_checkpoints")),
    )


def downgrade():
    op.drop_table("verification_checkpoints")
