"""Accounts, InvoiceXpress sequences, their per-type series, the sandbox AT.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "accounts",
        sa.Column("id", BigKey, nullable=False),
        sa.Column("name", sa.String(length=63), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("fiscal_id", sa.String(length=32), nullable=False),
        sa.Column("tax_authority", sa.String(length=16), nullable=False),
        sa.Column("api_key_hash", sa.String(length=64), nullable=False),
        sa.Column("default_sequence_pk", BigKey, nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("key_rotated_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("api_key_hash", name=op.f("uq_accounts_api_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_accounts_name")),
    )
    op.create_table(
        "sequences",
        sa.Column("pk", BigKey, nullable=False),
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("serie", sa.String(length=35), nullable=False),
        sa.Column("serie_key", sa.String(length=35), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lease_token", sa.String(length=36), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_sequences_account_id_accounts"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_sequences")),
        sa.UniqueConstraint("account_id", "serie_key",
                            name=op.f("uq_sequences_account_id_serie_key")),
    )
    op.create_index(op.f("ix_sequences_account_id"), "sequences", ["account_id"])
    # accounts -> sequences closes a cycle, so it is added once both tables exist.
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.create_foreign_key(
            op.f("fk_accounts_default_sequence_pk_sequences"), "sequences",
            ["default_sequence_pk"], ["pk"], ondelete="SET NULL")
    op.create_table(
        "series",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("sequence_pk", BigKey, nullable=False),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("number_id", sa.BigInteger(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("at_status", sa.String(length=16), nullable=False),
        sa.Column("validation_code", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_series_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["sequence_pk"], ["sequences.pk"],
                                name=op.f("fk_series_sequence_pk_sequences"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series")),
        sa.UniqueConstraint("number_id", name=op.f("uq_series_number_id")),
        sa.UniqueConstraint("sequence_pk", "doc_type", name=op.f("uq_series_sequence_pk_doc_type")),
    )
    op.create_index(op.f("ix_series_account_id"), "series", ["account_id"])
    op.create_table(
        "sandbox_series",
        sa.Column("id", BigKey, nullable=False),
        sa.Column("nif", sa.String(length=32), nullable=False),
        sa.Column("serie", sa.String(length=35), nullable=False),
        sa.Column("serie_key", sa.String(length=35), nullable=False),
        sa.Column("series_type", sa.String(length=1), nullable=False),
        sa.Column("doc_class", sa.String(length=2), nullable=False),
        sa.Column("doc_type", sa.String(length=2), nullable=False),
        sa.Column("first_number", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("software_certificate", sa.Integer(), nullable=False),
        sa.Column("processing", sa.String(length=2), nullable=False),
        sa.Column("validation_code", sa.String(length=16), nullable=False),
        sa.Column("registered_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=1), nullable=False),
        sa.Column("state_at", sa.DateTime(), nullable=False),
        sa.Column("state_reason", sa.String(length=2), nullable=True),
        sa.Column("justification", sa.String(length=4000), nullable=True),
        sa.Column("last_number", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_series")),
        sa.UniqueConstraint("nif", "serie_key", "doc_class", "doc_type",
                            name=op.f("uq_sandbox_series_nif_serie_key_doc_class_doc_type")),
        sa.UniqueConstraint("validation_code", name=op.f("uq_sandbox_series_validation_code")),
    )


def downgrade():
    op.drop_table("sandbox_series")
    op.drop_index(op.f("ix_series_account_id"), table_name="series")
    op.drop_table("series")
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.drop_constraint(op.f("fk_accounts_default_sequence_pk_sequences"),
                                 type_="foreignkey")
    op.drop_index(op.f("ix_sequences_account_id"), table_name="sequences")
    op.drop_table("sequences")
    op.drop_table("accounts")
