"""The server's signing keys: made on first use, sealed at rest, rotated, published as JWKS.

The newest key signs. Each process keeps the key it signs with in memory and looks for a
newer one every ``REFRESH_SECONDS``, so a rotation reaches every worker within that time;
older keys stay published, so every signature ever made can still be verified.
"""
import threading
import time
import uuid

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text

from ..extensions import db
from ..models import SigningKey
from ..secret_box import seal, unseal
from . import jws

REFRESH_SECONDS = 10.0
_FIRST_KEY_LOCK = 0x696E7678  # "invx": an advisory lock id of our own

_lock = threading.Lock()
_signers = {}  # engine -> (kid, private key, when it was read)


def rotate(secret_key):
    """Make a new key the one that signs; returns its id. Older keys stay published."""
    private_key = jws.new_private_key()
    kid = str(uuid.uuid4())
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    db.session.add(SigningKey(id=kid, public_jwk=jws.public_jwk(private_key.public_key(), kid),
                              private_key=seal(secret_key, pem)))
    db.session.commit()
    with _lock:
        _signers.pop(_cache_key(), None)
    return kid


def signer(secret_key):
    """(kid, private key) of the newest key, made now if there is none. ``secret_key``:
    INVX_SECRET_KEY, or ``secret_box.Keys`` (a previous key opens what it sealed)."""
    cache_key = _cache_key()
    with _lock:
        cached = _signers.get(cache_key)
    if cached and time.monotonic() - cached[2] < REFRESH_SECONDS:
        return cached[0], cached[1]
    newest = _newest()
    if newest is None:
        newest = _first_key(secret_key)
    if cached and cached[0] == newest.id:
        private_key = cached[1]
    else:
        private_key = serialization.load_pem_private_key(
            unseal(secret_key, newest.private_key), password=None)
    with _lock:
        _signers[cache_key] = (newest.id, private_key, time.monotonic())
    return newest.id, private_key


def _first_key(secret_key):
    """Make the first key, once: workers starting together wait for the first of them."""
    db.session.rollback()
    if db.engine.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE serializes already
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _FIRST_KEY_LOCK})
    newest = _newest()
    if newest is None:
        rotate(secret_key)  # commits, which releases the lock
        return _newest()
    db.session.commit()
    return newest


def jwks():
    """Every key that ever signed, as a JSON Web Key Set."""
    keys = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc()))
    return {"keys": [key.public_jwk for key in keys]}


def public_keys():
    """kid -> public key, for verification."""
    return {key["kid"]: jws.key_from_jwk(key) for key in jwks()["keys"]}


def _newest():
    return db.session.scalar(select(SigningKey).order_by(SigningKey.created_at.desc(),
                                                         SigningKey.id).limit(1))


def _cache_key():
    return db.engine  # one per database and app (rendering its URL costs more than signing)
