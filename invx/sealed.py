"""Every secret invx keeps sealed in the database (``secret_box``): found, checked, resealed.

What is sealed: the server's signing keys (``signing_keys.private_key``), the accounts'
document keys (``document_keys.private_key``) and, in an account's
``tax_authority_config``, the settings its adapter names in ``sealed_settings`` (AT's
password and the client's private key). The start-up checks open each of them;
``invx secrets rotate`` reseals with the current INVX_SECRET_KEY those a previous key sealed.
"""
from typing import NamedTuple

from sqlalchemy import func, select

from .extensions import db
from .models import Account, DocumentKey, SigningKey
from .secret_box import SecretUnreadable, is_current, reseal, unseal
from .tax_authority import ADAPTERS

BATCH = 200  # rows read, resealed and committed at a time
SEALED_SETTINGS = tuple(sorted({name for adapter in ADAPTERS.values()
                                for name in adapter.sealed_settings}))


class Rotation(NamedTuple):
    """What ``rotate`` did: values resealed with the current key, values already under it."""

    resealed: int
    current: int


def _sealed_names(config):
    return [name for name in SEALED_SETTINGS if isinstance((config or {}).get(name), str)]


def _accounts_with_settings():
    return select(Account).where(Account.tax_authority_config.is_not(None))


def _sealed_values():
    """(where, token) of every sealed value; ``where`` names it, without any secret."""
    for kid, token in db.session.execute(select(SigningKey.id, SigningKey.private_key)):
        yield f"signing key {kid}", token
    for name, version, token in db.session.execute(
            select(Account.name, DocumentKey.version, DocumentKey.private_key)
            .join(Account, Account.id == DocumentKey.account_id)):
        yield f"account {name}'s document key, version {version}", token
    for account in db.session.scalars(_accounts_with_settings()):
        for name in _sealed_names(account.tax_authority_config):
            yield (f"account {account.name}'s AT {name.replace('_', ' ')}",
                   account.tax_authority_config[name])


def count():
    """How many values are sealed."""
    return sum(1 for _ in _sealed_values())


def rows_to_rotate():
    """How many rows ``rotate`` goes through (for a progress bar)."""
    return (db.session.scalar(select(func.count()).select_from(SigningKey)) +
            db.session.scalar(select(func.count()).select_from(DocumentKey)) +
            db.session.scalar(select(func.count()).select_from(
                _accounts_with_settings().subquery())))


def unreadable(keys):
    """Where the first sealed value that no key of ``keys`` opens is, or None when every
    one opens. Raises SecretKeyMissing when something is sealed and there is no key."""
    for where, token in _sealed_values():
        try:
            unseal(keys, token)
        except SecretUnreadable:
            return where
    return None


def rotate(keys, progress=None, batch=BATCH):
    """Reseal with the current key every value a previous key sealed, ``batch`` rows per
    transaction; ``progress(n)`` is told of each row done. Idempotent: a value already
    sealed with the current key is left as it is."""
    counts = {"resealed": 0, "current": 0}

    def moved(token):
        if is_current(keys, token):
            counts["current"] += 1
            return token
        counts["resealed"] += 1
        return reseal(keys, token)

    for rows in _batches(select(SigningKey), SigningKey.id, batch):
        for signing_key in rows:
            signing_key.private_key = moved(signing_key.private_key)
        _done(rows, progress)
    # Document keys: a few per account at most, all in one transaction.
    keys_of_documents = db.session.scalars(select(DocumentKey).order_by(
        DocumentKey.account_id, DocumentKey.version).with_for_update()).all()
    for document_key in keys_of_documents:
        document_key.private_key = moved(document_key.private_key)
    _done(keys_of_documents, progress)
    for rows in _batches(_accounts_with_settings(), Account.id, batch):
        for account in rows:
            config = dict(account.tax_authority_config)
            for name in _sealed_names(config):
                config[name] = moved(config[name])
            account.tax_authority_config = config  # a new dict: the JSON is written
        _done(rows, progress)
    return Rotation(**counts)


def _done(rows, progress):
    db.session.commit()
    if progress is not None:
        progress(len(rows))


def _batches(query, key, size):
    """The rows of ``query`` in order of ``key``, ``size`` at a time, each batch locked
    (on PostgreSQL) until it is committed."""
    last = None
    while True:
        page = query if last is None else query.where(key > last)
        rows = db.session.scalars(page.order_by(key).limit(size).with_for_update()).all()
        if not rows:
            return
        last = getattr(rows[-1], key.key)
        yield rows
