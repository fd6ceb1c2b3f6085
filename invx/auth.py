"""API keys: generated, stored as SHA-256 digests, checked in constant time."""
import hashlib
import hmac
import ipaddress
import re
import secrets

from sqlalchemy import select

from .extensions import db
from .models import Account

API_KEY_PATTERN = re.compile(r"[\x21-\x7e]{16,128}")  # printable ASCII, no spaces


def new_api_key():
    """A fresh key in InvoiceXpress's shape: 40 hexadecimal characters (160 random bits)."""
    return secrets.token_hex(20)


def is_valid_api_key(key):
    return isinstance(key, str) and API_KEY_PATTERN.fullmatch(key) is not None


def hash_api_key(key):
    return hashlib.sha256(key.encode("ascii")).hexdigest()


def key_digest(key):
    """The digest a well-formed key is stored under, or None for a malformed one."""
    return hash_api_key(key) if is_valid_api_key(key) else None


def bearer_key(authorization):
    """The key an ``Authorization: Bearer <key>`` header carries, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def account_for_digest(digest):
    """The account whose key has ``digest``, or None.

    The lookup is by digest, so what the database compares carries no usable information
    about the key; the final comparison is constant-time all the same.
    """
    if digest is None:
        return None
    account = db.session.scalar(select(Account).where(Account.api_key_hash == digest))
    if account is None or not hmac.compare_digest(account.api_key_hash, digest):
        return None
    return account


def account_for_key(key):
    """The account that owns ``key``, or None."""
    return account_for_digest(key_digest(key))


def account_for_bearer(authorization):
    """The account whose API key an ``Authorization: Bearer <key>`` header carries, or None."""
    return account_for_key(bearer_key(authorization))


def account_named_by_host(host):
    """The account name a ``Host`` header names (``ACCOUNT.anything``), or None.

    An IP address or a name without a dot (``localhost``) names no account; otherwise the
    first label does, but only when an account of that name exists, so a server reached as
    ``invx.example.com`` works for every account.
    """
    host = (host or "").strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if "." not in host:
        return None
    label = host.split(".", 1)[0]
    exists = db.session.scalar(select(Account.id).where(Account.name == label))
    return label if exists is not None else None


def authenticate(key, host):
    """The account a request with ``key`` and ``host`` acts for, or None (401)."""
    account = account_for_key(key)
    if account is None:
        return None
    named = account_named_by_host(host)
    if named is not None and named != account.name:
        return None
    return account
