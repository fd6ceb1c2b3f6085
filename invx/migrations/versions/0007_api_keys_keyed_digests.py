"""API keys stored as keyed digests: HMAC-SHA256 with a key from INVX_SECRET_KEY.

An unsalted SHA-256 of a short key (``invx accounts create --api-key`` imports any key of
16 characters or more) can be found from a database dump by trying keys. The keyed digest
cannot without INVX_SECRET_KEY, which the dump does not hold. The stored SHA-256 digests
are converted here without anyone's key (the keyed digest is an HMAC of the SHA-256); run
without INVX_SECRET_KEY, this migration converts nothing, says so, and each key is then
converted the first time it is used with INVX_SECRET_KEY set (see invx/auth.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""
import logging
import secrets

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
accounts = sa.table("accounts", sa.column("id", sa.BigInteger),
                    sa.column("api_key_hash", sa.String))


def _secret_key():
    from invx import config
    try:
        return config.current().secret_key
    except RuntimeError:  # no app (alembic run by hand): no secret
        return None


def upgrade():
    from invx.auth import KEYED, keyed_digest

    with op.batch_alter_table("accounts") as batch_op:
        batch_op.alter_column("api_key_hash", type_=sa.String(80),
                              existing_type=sa.String(64), existing_nullable=False)
    bind = op.get_bind()
    legacy = bind.execute(sa.select(accounts.c.id, accounts.c.api_key_hash).where(
        ~accounts.c.api_key_hash.startswith(KEYED))).all()
    secret_key = _secret_key()
    if legacy and not secret_key:
        log.warning("INVX_SECRET_KEY is not set: %d API keys stay stored as plain SHA-256 "
                    "until each is next used with INVX_SECRET_KEY set", len(legacy))
        return
    for account_id, digest in legacy:
        bind.execute(accounts.update().where(accounts.c.id == account_id)
                     .values(api_key_hash=keyed_digest(digest, secret_key)))


def downgrade():
    # A keyed digest cannot be turned back into the key's SHA-256: those accounts get a
    # digest no key has, and need a new key (invx accounts rotate-key) after a downgrade.
    from invx.auth import KEYED

    bind = op.get_bind()
    keyed = bind.execute(sa.select(accounts.c.id).where(
        accounts.c.api_key_hash.startswith(KEYED))).scalars().all()
    for account_id in keyed:
        bind.execute(accounts.update().where(accounts.c.id == account_id)
                     .values(api_key_hash=secrets.token_hex(32)))
    if keyed:
        log.warning("%d API keys no longer work: give each account a new one with "
                    "`invx accounts rotate-key`", len(keyed))
    with op.batch_alter_table("accounts") as batch_op:
        batch_op.alter_column("api_key_hash", type_=sa.String(64),
                              existing_type=sa.String(80), existing_nullable=False)
