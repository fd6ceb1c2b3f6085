"""Accounts: creation, key rotation, listing. Used by the ``invx accounts`` commands."""
import re

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from . import config
from .auth import candidate_digests, hash_api_key, is_valid_api_key, new_api_key
from .countries import is_country_code
from .extensions import db
from .models import Account, Sequence, Series, utcnow
from .portugal.nif import PORTUGAL, is_valid_nif
from .tax_authority import ADAPTERS
from .tax_authority.base import ConfigurationError
from .tax_authority.sandbox import forget_codes

# Account names are host labels: the ACCOUNT in ACCOUNT.app.invoicexpress.com.
NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
FOREIGN_FISCAL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,31}")


class AccountError(ValueError):
    """An account request invx refuses; the message says why."""


def _check_new_key(key):
    if not is_valid_api_key(key):
        raise AccountError("an API key is 16 to 128 printable ASCII characters without spaces")
    if db.session.scalar(select(Account.id).where(
            Account.api_key_hash.in_(candidate_digests(key, config.current().secret_keys)))):
        raise AccountError("that API key is already in use by an account")


def _normalise(name, country, fiscal_id, tax_authority):
    name = (name or "").strip().lower()
    if not NAME_PATTERN.fullmatch(name):
        raise AccountError(
            "an account name is 1 to 63 lowercase letters, digits or hyphens, "
            "not starting or ending with a hyphen (it is the ACCOUNT of ACCOUNT.host)")
    country = (country or "").strip().upper()
    if not is_country_code(country):
        raise AccountError(f"{country!r} is not an ISO 3166-1 alpha-2 country code")
    fiscal_id = (fiscal_id or "").strip()
    if country == PORTUGAL:
        if not is_valid_nif(fiscal_id):
            raise AccountError("a Portuguese fiscal id (NIF) is 9 digits with a valid check digit")
    elif not FOREIGN_FISCAL_ID_PATTERN.fullmatch(fiscal_id):
        raise AccountError("a fiscal id is 1 to 32 letters, digits, '.', '/' or '-'")
    if tax_authority not in ADAPTERS:
        raise AccountError(f"unknown Tax Authority adapter {tax_authority!r}")
    if country != PORTUGAL and tax_authority != "none":
        raise AccountError("only Portuguese accounts register series with a Tax Authority: "
                           "use --tax-authority none")
    return name, country, fiscal_id


def create_account(name, country, fiscal_id, api_key=None, tax_authority="none"):
    """Create an account; returns it and its API key (the only time the key is seen)."""
    name, country, fiscal_id = _normalise(name, country, fiscal_id, tax_authority)
    if db.session.scalar(select(Account.id).where(Account.name == name)):
        raise AccountError(f"an account named {name!r} already exists")
    api_key = new_api_key() if api_key is None else api_key
    _check_new_key(api_key)
    account = Account(name=name, country=country, fiscal_id=fiscal_id,
                      tax_authority=tax_authority, api_key_hash=hash_api_key(api_key))
    db.session.add(account)
    _commit(f"an account named {name!r} or with that API key already exists")
    return account, api_key


def rotate_key(name, api_key=None):
    """Give the account a new API key; the old one stops working at once."""
    account = find_account(name)
    api_key = new_api_key() if api_key is None else api_key
    _check_new_key(api_key)
    account.api_key_hash = hash_api_key(api_key)
    account.key_rotated_at = utcnow()
    _commit("that API key is already in use by an account")
    return account, api_key


def find_account(name):
    account = db.session.scalar(select(Account).where(Account.name == (name or "").lower()))
    if account is None:
        raise AccountError(f"no account named {name!r}")
    return account


def list_accounts():
    """Every account with its number of sequences, by name."""
    counts = (select(Sequence.account_id, func.count().label("n"))
              .where(Sequence.state == Sequence.READY).group_by(Sequence.account_id).subquery())
    rows = db.session.execute(
        select(Account, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.account_id == Account.id).order_by(Account.name))
    return [(account, count) for account, count in rows]


def _commit(message):
    try:
        db.session.commit()
    except IntegrityError:
        # A concurrent command took the name or key between our check and the insert.
        db.session.rollback()
        raise AccountError(message) from None


def set_tax_authority(name, adapter, secret_key=None, **options):
    """Switch an account's Tax Authority adapter; the adapter checks its settings in
    ``options`` (for ``at``: endpoint, username, password, public_key, client_cert,
    client_key, software_certificate, series_type) and seals their secrets.

    Leaving the sandbox turns its made-up codes back into N/D, to be registered for real,
    and the sandbox forgets them, so that back on it they are registered anew.
    Returns the account and how many codes were so reset.
    """
    account = find_account(name)
    if adapter not in ADAPTERS:
        raise AccountError(f"unknown Tax Authority adapter {adapter!r}")
    if adapter != "none" and not account.is_portuguese:
        raise AccountError("only Portuguese accounts register series with a Tax Authority")
    try:
        account.tax_authority_config = ADAPTERS[adapter].stored_settings(
            account, secret_key, **options)
    except ConfigurationError as error:
        raise AccountError(str(error)) from None
    reset = 0
    if account.tax_authority == "sandbox" and adapter != "sandbox":
        made_up = (Series.account_id == account.id, Series.registered_by == "sandbox",
                   Series.at_status == Series.REGISTERED)
        forget_codes(account.fiscal_id, select(Series.validation_code).where(*made_up))
        reset = db.session.execute(
            update(Series).where(*made_up)
            .values(at_status=Series.UNREGISTERED, validation_code=None, registered_by=None,
                    register_sent_at=None, registered_at=None)
            .execution_options(synchronize_session=False)).rowcount
    account.tax_authority = adapter
    db.session.commit()
    return account, reset
