"""Portuguese document signatures: the producer's keys, each series' last Hash, each
entry's signed fields.

``document_keys`` holds an account's RSA keys (sealed), one version after another (the
``HashControl``); ``accounts.document_key_version`` is the one that signs now. A series
keeps the Hash and the date of its last signed document, read with its row lock, so that
each new document signs over its predecessor's Hash; ``series.pt_signed`` is a Sequence
Service series' opt-in. ``entries.pt`` holds what was signed, the Hash and the QR text.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

BigKey = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "document_keys",
        sa.Column("account_id", BigKey, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("private_key", sa.Text(), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("certificate_number", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"],
                                name=op.f("fk_document_keys_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "version", name=op.f("pk_document_keys")),
    )
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("document_key_version", sa.Integer(), nullable=True))
    with op.batch_alter_table("series") as batch:
        batch.add_column(sa.Column("pt_signed", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("last_pt_hash", sa.Text(), nullable=True))
        batch.add_column(sa.Column("last_pt_invoice_date", sa.Date(), nullable=True))
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("pt", sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table("entries") as batch:
        batch.drop_column("pt")
    with op.batch_alter_table("series") as batch:
        batch.drop_column("last_pt_invoice_date")
        batch.drop_column("last_pt_hash")
        batch.drop_column("pt_signed")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("document_key_version")
    op.drop_table("document_keys")
