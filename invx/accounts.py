"""Accounts: creation, key rotation, listing. Used by the ``invx accounts`` commands."""
import re

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from .auth import hash_api_key, is_valid_api_key, new_api_key
from .countries import is_country_code
from .extensions import db
from .fiscal import PORTUGAL, is_valid_nif
from .models import Account, Sequence, Series, utcnow
from .secret_box import SecretKeyMissing, seal
from .tax_authority import ADAPTERS
from .tax_authority.at_soap import ENDPOINTS as AT_ENDPOINTS
from .tax_authority.at_soap import ConfigurationError, load_client_certificate, resolve_endpoint
from .tax_authority.wss import KeyMaterialError, load_public_key, public_key_pem

# Account names are host labels: the ACCOUNT in ACCOUNT.app.invoicexpress.com.
NAME_PATTERN = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
FOREIGN_FISCAL_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9./-]{0,31}")
AT_USERNAME_PATTERN = re.compile(r"([0-9]{9})/([0-9]{1,6})")


class AccountError(ValueError):
    """An account request invx refuses; the message says why."""


def _check_new_key(key):
    if not is_valid_api_key(key):
        raise AccountError("an API key is 16 to 128 printable ASCII characters without spaces")
    if db.session.scalar(select(Account.id).where(Account.api_key_hash == hash_api_key(key))):
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


def set_tax_authority(name, adapter, secret_key=None, **at_options):
    """Switch an account's Tax Authority adapter; ``at`` takes its settings in ``at_options``
    (endpoint, username, password, public_key, client_cert, client_key,
    software_certificate, series_type), with the password and client key sealed.

    Leaving the sandbox turns its made-up codes back into N/D, to be registered for real.
    Returns the account and how many codes were so reset.
    """
    account = find_account(name)
    if adapter not in ADAPTERS:
        raise AccountError(f"unknown Tax Authority adapter {adapter!r}")
    if adapter != "none" and not account.is_portuguese:
        raise AccountError("only Portuguese accounts register series with a Tax Authority")
    if adapter == "at":
        account.tax_authority_config = _at_settings(account, secret_key, **at_options)
    elif any(value is not None for value in at_options.values()):
        raise AccountError("those settings are for --adapter at only")
    else:
        account.tax_authority_config = None
    reset = 0
    if account.tax_authority == "sandbox" and adapter != "sandbox":
        reset = db.session.execute(
            update(Series).where(Series.account_id == account.id,
                                 Series.registered_by == "sandbox",
                                 Series.at_status == Series.REGISTERED)
            .values(at_status=Series.UNREGISTERED, validation_code=None, registered_by=None,
                    register_sent_at=None, registered_at=None)
            .execution_options(synchronize_session=False)).rowcount
    account.tax_authority = adapter
    db.session.commit()
    return account, reset


def _at_settings(account, secret_key, endpoint=None, username=None, password=None,
                 public_key=None, client_cert=None, client_key=None, software_certificate=None,
                 series_type=None):
    """Checked, storable settings of the ``at`` adapter."""
    missing = [option for option, value in (("--endpoint", endpoint), ("--username", username),
                                            ("--public-key", public_key), ("password", password))
               if not value]
    if missing:
        raise AccountError(f"the at adapter needs {', '.join(missing)}")
    try:
        endpoint = resolve_endpoint(endpoint)
    except ConfigurationError as error:
        raise AccountError(str(error)) from None
    match = AT_USERNAME_PATTERN.fullmatch(username)
    if not match:
        raise AccountError("the username is NIF/SUB-USER, e.g. 123456789/1")
    if match.group(1) != account.fiscal_id:
        raise AccountError(f"the username's NIF must be the account's, {account.fiscal_id}")
    try:
        at_key = public_key_pem(load_public_key(public_key))
    except KeyMaterialError as error:
        raise AccountError(f"--public-key: {error}") from None
    if (client_cert is None) != (client_key is None):
        raise AccountError("--client-cert and --client-key go together")
    if client_cert is None and endpoint in AT_ENDPOINTS.values():
        raise AccountError("AT's endpoints take only mutual TLS: give --client-cert and "
                           "--client-key, the certificate AT issued to the software producer")
    software_certificate = 0 if software_certificate is None else software_certificate
    if not 0 <= software_certificate <= 9999:
        raise AccountError("--software-certificate is AT's certificate number, 0 to 9999")
    series_type = series_type or "N"
    if series_type not in ("N", "F", "R"):
        raise AccountError("--series-type is N (normal), F (training) or R (recovery)")
    settings = {"endpoint": endpoint, "username": username, "public_key_pem": at_key,
                "software_certificate": software_certificate, "series_type": series_type}
    try:
        if client_cert is not None:
            cert_pem, key_pem = load_client_certificate(client_cert, client_key)
            settings["client_cert_pem"] = cert_pem
            settings["client_key"] = seal(secret_key, key_pem)
        settings["password"] = seal(secret_key, password)
    except ConfigurationError as error:
        raise AccountError(str(error)) from None
    except SecretKeyMissing as error:
        raise AccountError(str(error)) from None
    return settings
