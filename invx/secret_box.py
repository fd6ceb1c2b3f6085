"""Secrets at rest (AT passwords, client private keys), sealed with a key from INVX_SECRET_KEY.

Fernet (AES-128-CBC with HMAC-SHA256) from ``cryptography``; its key is derived from
``INVX_SECRET_KEY`` with HKDF, so any long random string will do as the setting.
"""
import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_SECRET_LENGTH = 16


class SecretKeyMissing(RuntimeError):
    """No INVX_SECRET_KEY: invx refuses to store or read secrets."""

    def __init__(self):
        super().__init__(
            "INVX_SECRET_KEY is not set: invx will not store or read AT credentials without "
            "it. Set it to a long random string, e.g. the output of "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(32))'`, and keep it "
            "safe: without it the stored credentials cannot be read.")


class SecretUnreadable(RuntimeError):
    """A sealed value does not open with the current INVX_SECRET_KEY."""


def _fernet(secret_key):
    if not secret_key:
        raise SecretKeyMissing()
    if len(secret_key) < MIN_SECRET_LENGTH:
        raise SecretKeyMissing() from ValueError(
            f"INVX_SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
               info=b"invx secrets at rest v1").derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret_key, plaintext):
    """``plaintext`` (str or bytes) encrypted for storage, as text."""
    if isinstance(plaintext, str):
        plaintext = plaintext.encode("utf-8")
    return _fernet(secret_key).encrypt(plaintext).decode("ascii")


def unseal(secret_key, token):
    """The bytes a ``seal`` sealed; SecretUnreadable if the key is not the one used."""
    try:
        return _fernet(secret_key).decrypt(token.encode("ascii"))
    except InvalidToken:
        raise SecretUnreadable(
            "stored credentials cannot be decrypted: was INVX_SECRET_KEY changed?") from None
