"""Secrets at rest (AT passwords, client private keys, the server's signing keys), sealed
with a key from INVX_SECRET_KEY.

Fernet (AES-128-CBC with HMAC-SHA256) from ``cryptography``; its key is derived from
``INVX_SECRET_KEY`` with HKDF, so any long random string will do as the setting. A value
sealed under a key INVX_SECRET_KEY had before opens while that key is in
INVX_SECRET_KEY_PREVIOUS (``MultiFernet``: the current key first); sealing always uses the
current key, and ``reseal`` moves a value to it (``invx secrets rotate``).
"""
import base64
import functools
import hashlib
import hmac
from typing import NamedTuple

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LENGTH = 16


class Keys(NamedTuple):
    """INVX_SECRET_KEY (None: unset) and the keys it had before, newest first."""

    current: str | None
    previous: tuple[str, ...] = ()


class SecretKeyMissing(RuntimeError):
    """No INVX_SECRET_KEY: invx refuses to store or read secrets."""

    def __init__(self):
        super().__init__(
            "INVX_SECRET_KEY is not set: invx will not store or read AT credentials without "
            "it. Set it to a long random string, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, and keep it "
            "safe: without it the stored credentials cannot be read.")


class SecretUnreadable(RuntimeError):
    """A sealed value does not open with INVX_SECRET_KEY nor any previous key."""


def _keys(keys):
    """``keys`` as Keys: a plain string is the current key alone."""
    return keys if isinstance(keys, Keys) else Keys(keys)


@functools.lru_cache(maxsize=16)
def _fernet(secret_key):
    if not secret_key:
        raise SecretKeyMissing()
    if len(secret_key) < MIN_SECRET_LENGTH:
        raise SecretKeyMissing() from ValueError(
            f"INVX_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"invx secrets at rest v1").derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def _multi(keys):
    keys = _keys(keys)
    return MultiFernet([_fernet(keys.current)] + [_fernet(key) for key in keys.previous])


def seal(keys, plaintext):
    """``plaintext`` (str or bytes) encrypted for storage with the current key, as text."""
    if isinstance(plaintext, str):
        plaintext = plaintext.encode("utf-8")
    return _fernet(_keys(keys).current).encrypt(plaintext).decode("ascii")


def unseal(keys, token):
    """The bytes a ``seal`` sealed, with the current key or a previous one;
    SecretUnreadable if none of them is the one used."""
    try:
        return _multi(keys).decrypt(token.encode("ascii"))
    except InvalidToken:
        raise SecretUnreadable(
            "stored credentials cannot be decrypted: was INVX_SECRET_KEY changed?") from None


def is_current(keys, token):
    """Whether ``token`` opens with the current key (no need to reseal it)."""
    try:
        _fernet(_keys(keys).current).decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


def reseal(keys, token):
    """``token`` sealed again with the current key (``MultiFernet.rotate``);
    SecretUnreadable if no key opens it."""
    try:
        return _multi(keys).rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret opens with neither INVX_SECRET_KEY nor "
            "INVX_SECRET_KEY_PREVIOUS") from None


def key_id(secret_key):
    """A short public name of ``secret_key`` (8 hexadecimal digits of an HMAC under a key
    derived from it): tells which key made a stored digest, and nothing of the key."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                   info=b"invx secret key id v1").derive(secret_key.encode("utf-8"))
    return hmac.new(derived, b"invx", hashlib.sha256).hexdigest()[:8]
