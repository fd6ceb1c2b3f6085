"""API keys: generated, stored as keyed digests, checked in constant time.

A key is stored as ``h1$`` + HMAC-SHA256(K, SHA-256(key)), K derived from INVX_SECRET_KEY
(HKDF): a database dump alone cannot be used to try keys, however short the key an
operator imported with ``--api-key``. Digests stored before (SHA-256 of the key, no
prefix) are converted by migration 0007 when INVX_SECRET_KEY is set; one left (the
migration ran without it) is converted the first time its key is used. Without
INVX_SECRET_KEY keys are stored as plain SHA-256, and keys stored with it do not work.

A keyed digest names the INVX_SECRET_KEY it was made with (``h1$<key id>$<hmac>``,
``secret_box.key_id``; digests made before name none: ``h1$<hmac>``). When INVX_SECRET_KEY
changes, a digest made with a key in INVX_SECRET_KEY_PREVIOUS still lets its key in, and is
rewritten under the current key then: a digest cannot be converted without the key itself,
so ``invx secrets rotate`` counts those still waiting for their key's next use.
"""
import functools
import hashlib
import hmac
import re
import secrets
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import func, select

from . import config
from .extensions import db
from .models import Account
from .secret_box import key_id

KEYED = "h1$"

API_KEY_PATTERN = re.compile(r"[\x21-\x7e]{16,128}")  # printable ASCII, no spaces


def new_api_key():
    """A fresh key in InvoiceXpress's shape: 40 hexadecimal characters (160 random bits)."""
    return secrets.token_hex(20)


def is_valid_api_key(key):
    return isinstance(key, str) and API_KEY_PATTERN.fullmatch(key) is not None


@functools.lru_cache(maxsize=8)
def _digest_key(secret_key):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"invx api key digests v1").derive(secret_key.encode("utf-8"))


def legacy_digest(key):
    """SHA-256 of the key, hex: how keys were stored before migration 0007."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()


@functools.lru_cache(maxsize=8)
def current_prefix(secret_key):
    """How every digest made with ``secret_key`` begins."""
    return f"{KEYED}{key_id(secret_key)}$"


def keyed_digest(legacy, secret_key, named=True):
    """The keyed digest of a key whose SHA-256 is ``legacy`` (the migration needs no key);
    ``named=False``: as digests were written before they named their secret key."""
    mac = hmac.new(_digest_key(secret_key), bytes.fromhex(legacy), hashlib.sha256).hexdigest()
    return (current_prefix(secret_key) if named else KEYED) + mac


def digest_with(key, secret_key):
    legacy = legacy_digest(key)
    return keyed_digest(legacy, secret_key) if secret_key else legacy


def candidate_digests(key, keys):
    """Every digest ``key`` may be stored under with ``keys`` (``secret_box.Keys``): the
    current key's, each previous key's, with or without the key's name, and plain SHA-256
    (stored before migration 0007)."""
    return _digests_of(key, keys)[1]


def _digests_of(key, keys):
    """(the digest ``key`` is stored under now, ``candidate_digests``), each HMAC made once."""
    legacy = legacy_digest(key)
    if not keys.current:
        return legacy, {legacy}
    current = keyed_digest(legacy, keys.current)
    candidates = {legacy, current}
    for secret_key in (keys.current, *keys.previous):
        candidates.add(keyed_digest(legacy, secret_key, named=False))
        if secret_key != keys.current:
            candidates.add(keyed_digest(legacy, secret_key))
    return current, candidates


def hash_api_key(key):
    """The digest ``key`` is stored under, with this app's INVX_SECRET_KEY."""
    return digest_with(key, config.current().secret_key)


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


class KeyGate:
    """Whether a key may be an account's, decided before a request's body is read, and
    cheaply when unknown keys flood in (issue 18).

    A request whose key is not an account's is refused before its body is read: a made-up
    key cannot make invx wait for a body it will refuse. Keys seen valid in the last
    ``ttl`` seconds are let through at once. An unknown key costs a lookup, up to
    ``lookups_per_second`` in this process; beyond that (thousands of made-up keys at once),
    a key is checked against every stored digest, read at most every ``snapshot_seconds``,
    so a flood costs no query per request and a real key is still let through. The request
    itself is then authenticated as always (a key revoked a moment ago is refused)."""

    def __init__(self, ttl=60.0, size=10_000, lookups_per_second=10, snapshot_seconds=2.0,
                 clock=time.monotonic):
        self.ttl, self.size, self.snapshot_seconds = ttl, size, snapshot_seconds
        self.rate = lookups_per_second
        self._clock = clock
        self.reset()

    def reset(self):
        """Forget every key seen (the test suite empties the database between tests)."""
        self._seen = {}
        self._tokens, self._filled_at = float(self.rate), self._clock()
        self._snapshot, self._snapshot_at = frozenset(), None

    def known(self, key, digest=None):
        """``digest``: the key's (``key_digest``), if the caller made it already."""
        if not is_valid_api_key(key):
            return False
        digest, now = digest or key_digest(key), self._clock()
        if self._seen.get(digest, 0) > now:
            return True
        if self._take_token(now):
            found = account_for_key(key) is not None
        else:
            found = not candidate_digests(key, _keys()).isdisjoint(self._digests(now))
        if found:
            if len(self._seen) >= self.size:
                self._seen.clear()
            self._seen[digest] = now + self.ttl
        return found

    def _take_token(self, now):
        self._tokens = min(self.rate, self._tokens + (now - self._filled_at) * self.rate)
        self._filled_at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _digests(self, now):
        if self._snapshot_at is None or now - self._snapshot_at >= self.snapshot_seconds:
            self._snapshot = frozenset(db.session.scalars(select(Account.api_key_hash)))
            self._snapshot_at = now
        return self._snapshot


key_gate = KeyGate()


def _keys():
    return config.current().secret_keys


def account_for_key(key):
    """The account that owns ``key``, or None. One query, whichever digest the key is
    stored under (``candidate_digests``); one not the current key's is converted to it."""
    if not is_valid_api_key(key):
        return None
    keys = _keys()
    digest, candidates = _digests_of(key, keys)
    account = db.session.scalar(select(Account).where(Account.api_key_hash.in_(candidates)))
    if account is None or not any(hmac.compare_digest(account.api_key_hash, candidate)
                                  for candidate in candidates):
        return None
    if account.api_key_hash != digest:  # before 0007, a previous key's, or unnamed
        account.api_key_hash = digest
        db.session.commit()
    return account


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
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # any port, even a bad one
    host = host.rstrip(".")
    if not host.endswith("." + domain):
        return None
    return host[:-len(domain) - 1]


def authenticate(key, host, domain=None):
    """The account a request with ``key`` and ``host`` acts for, or None (401): a host
    under ``domain`` must name the key's own account."""
    account = account_for_key(key) if key_gate.known(key) else None
    if account is None:
        return None
    named = account_named_by_host(host, domain)
    if named is not None and named != account.name:
        return None
    return account


def keys_not_current(secret_key):
    """How many accounts' keys are not stored under ``secret_key``'s digest yet: under a
    previous key's, or stored before digests named their key (each converts on its next
    use; ``invx secrets rotate`` reports them)."""
    return db.session.scalar(select(func.count()).select_from(Account).where(
        ~Account.api_key_hash.startswith(current_prefix(secret_key), autoescape=True)))
