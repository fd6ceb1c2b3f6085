"""API keys: generated, stored as SHA-256 digests, checked in constant time."""
import hashlib
import hmac
import re
import secrets
import time

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


class _RecentDigests:
    """Digests of keys seen valid in the last ``ttl`` seconds, in this process.

    It only decides whether a request's body is worth reading: a request whose key is not
    known is refused before its body is read (a made-up key cannot make invx wait for a
    body it will refuse). The request itself is authenticated as always, so a key revoked
    a moment ago is still refused."""

    def __init__(self, ttl=60.0, size=10_000):
        self.ttl, self.size = ttl, size
        self._seen = {}

    def known(self, digest):
        if digest is None:
            return False
        now = time.monotonic()
        if self._seen.get(digest, 0) > now:
            return True
        if db.session.scalar(select(Account.id).where(Account.api_key_hash == digest)) is None:
            return False
        if len(self._seen) >= self.size:
            self._seen.clear()
        self._seen[digest] = now + self.ttl
        return True


recent_digests = _RecentDigests()


def account_for_key(key):
    """The account that owns ``key``, or None."""
    return account_for_digest(key_digest(key))


def account_for_bearer(authorization):
    """The account whose API key an ``Authorization: Bearer <key>`` header carries, or None."""
    return account_for_key(bearer_key(authorization))


def account_named_by_host(host, domain):
    """The account name a ``Host`` header names, or None when it names none.

    Only a host under ``domain`` (``ACCOUNT.app.example.com`` for ``app.example.com``)
    names an account: its labels before the domain, whether or not such an account exists
    (so the answer tells nothing of which accounts do). Without a domain, or for any other
    host (an IP address, ``localhost``, ``invx.example.com``), the key alone decides.
    """
    if not domain:
        return None
    host = (host or "").strip().lower()
    if host.startswith("["):
        return None  # an IPv6 literal
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.rstrip(".")
    if not host.endswith("." + domain):
        return None
    return host[:-len(domain) - 1]


def authenticate(key, host, domain=None):
    """The account a request with ``key`` and ``host`` acts for, or None (401): a host
    under ``domain`` must name the key's own account."""
    account = account_for_key(key)
    if account is None:
        return None
    named = account_named_by_host(host, domain)
    if named is not None and named != account.name:
        return None
    return account
