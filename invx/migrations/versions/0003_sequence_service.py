"""The Sequence Service: series fields, entries, signing keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# AT document types of the InvoiceXpress types, for the sub-series' document numbers.
AT_TYPES = {"invoice": "FT", "invoice_receipt": "FR", "simplified_invoice": "FS",
            "credit_note": "NC", "debit_note": "ND", "receipt": "RG", "shipping": "GR",
            "transport": "GT", "devolution": "GD", "proforma": "PF", "quote": "OR"}


def upgrade():
    with op.batch_alter_table("series") as batch_op:
        batch_op.alter_column("sequence_pk", existing_type=BigKey, nullable=True)
        batch_op.alter_column("doc_type", existing_type=sa.String(length=32), nullable=True)
        batch_op.alter_column("number_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(sa.Column("last_entry_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("start", sa.BigInteger(), nullable=False,
                                      server_default="1"))
        batch_op.add_column(sa.Column("prefix", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("padding", sa.Integer(), nullable=False,
                                      server_default="0"))
        batch_op.add_column(sa.Column("suffix", sa.String(length=64), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("code", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("client_sig", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("request_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("created_at", sa.DateTime(), nullable=False,
                                      server_default=sa.func.current_timestamp()))
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(), nullable=False,
                                      server_default=sa.func.current_timestamp()))
        batch_op.create_index("ix_series_account_id_created_at", ["account_id", "created_at"])
    # The server defaults only filled the existing rows: the app sets these itself.
    with op.batch_alter_table("series") as batch_op:
        for column, kind in (("start", sa.BigInteger()), ("prefix", sa.String(length=64)),
                             ("padding", sa.Integer()), ("suffix", sa.String(length=64)),
                             ("created_at", sa.DateTime()), ("updated_at", sa.DateTime())):
            batch_op.alter_column(column, existing_type=kind, server_default=None)
    _describe_invoicexpress_series()

    op.create_table(
        "entries",
        sa.Column("pk", BigKey, nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("series_id", sa.String(length=36), nullable=False),
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=255), nullable=False),
        sa.Column("meta", sa.JSON(), nullable=True),
        sa.Column("previous_id", sa.String(length=36), nullable=True),
        sa.Column("sig", sa.Text(), nullable=False),
        sa.Column("client_sig", sa.Text(), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_entries_account_id_accounts"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["series_id"], ["series.id"],
                                name=op.f("fk_entries_series_id_series"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("pk", name=op.f("pk_entries")),
        sa.UniqueConstraint("account_id", "id", name=op.f("uq_entries_account_id_id")),
        sa.UniqueConstraint("series_id", "id", name=op.f("uq_entries_series_id_id")),
        sa.UniqueConstraint("series_id", "number", name=op.f("uq_entries_series_id_number")),
    )
    op.create_table(
        "signing_keys",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("public_jwk", sa.JSON(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signing_keys")),
    )


def _describe_invoicexpress_series():
    """Existing sub-series number their documents as ``<AT type> <serie>/<n>``."""
    connection = op.get_bind()
    rows = connection.execute(sa.text(
        "SELECT series.id, series.doc_type, sequences.serie FROM series "
        "JOIN sequences ON sequences.pk = series.sequence_pk")).all()
    for series_id, doc_type, serie in rows:
        at_type = AT_TYPES.get(doc_type)
        connection.execute(sa.text(
            "UPDATE series SET prefix = :prefix, code = :code, name = :name WHERE id = :id"),
            {"prefix": f"{at_type} {serie}/" if at_type else f"{serie}/",
             "code": f"{at_type} {serie}" if at_type else serie,
             "name": f"{serie} {doc_type}", "id": series_id})


def downgrade():
    op.drop_table("signing_keys")
    op.drop_table("entries")
    op.execute("DELETE FROM series WHERE sequence_pk IS NULL")
    with op.batch_alter_table("series") as batch_op:
        batch_op.drop_index("ix_series_account_id_created_at")
        for column in ("updated_at", "created_at", "request_hash", "client_sig", "code",
                       "description", "name", "suffix", "padding", "prefix", "start",
                       "last_entry_id"):
            batch_op.drop_column(column)
        batch_op.alter_column("number_id", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("doc_type", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("sequence_pk", existing_type=BigKey, nullable=False)
