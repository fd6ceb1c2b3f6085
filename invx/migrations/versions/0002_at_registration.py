"""Real AT registration: account settings, sent markers, lifecycle, the AT call audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.add_column(sa.Column("tax_authority_config", sa.JSON(), nullable=True))
    with op.batch_alter_table("sequences") as batch_op:
        batch_op.add_column(sa.Column("closed_as", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("closed_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("series") as batch_op:
        batch_op.add_column(sa.Column("registered_by", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("register_sent_at", sa.DateTime(), nullable=True))
    # Codes registered before this revision came from the sandbox or were not applicable.
    op.execute("UPDATE series SET registered_by = 'sandbox' WHERE validation_code IS NOT NULL")
    op.create_table(
        "at_calls",
        sa.Column("id", BigKey, nullable=False),
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("adapter", sa.String(length=16), nullable=False),
        sa.Column("operation", sa.String(length=32), nullable=False),
        sa.Column("serie", sa.String(length=35), nullable=True),
        sa.Column("doc_class", sa.String(length=2), nullable=True),
        sa.Column("doc_type", sa.String(length=2), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("result_code", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("validation_code", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_at_calls_account_id_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_at_calls")),
    )
    op.create_index("ix_at_calls_account_id_id", "at_calls", ["account_id", "id"])


def downgrade():
    op.drop_index("ix_at_calls_account_id_id", table_name="at_calls")
    op.drop_table("at_calls")
    with op.batch_alter_table("series") as batch_op:
        batch_op.drop_column("register_sent_at")
        batch_op.drop_column("registered_by")
    with op.batch_alter_table("sequences") as batch_op:
        batch_op.drop_column("closed_at")
        batch_op.drop_column("closed_as")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_column("tax_authority_config")
