"""The ``invx`` command: ``invx db upgrade``, ``invx accounts ...``, ``invx demo``."""
import functools
import json
import os

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import accounts as accounts_domain
from .auth import account_for_key, is_valid_api_key
from .extensions import db
from .models import Sequence
from .tax_authority import adapter_names

SANDBOX_NOTICE = (
    "Sandbox Tax Authority: validation codes (they begin with SBX) are made up locally for "
    "trying invx. They are NOT registered with AT and must never appear on a real document.")

accounts_cli = AppGroup("accounts", help="Create, list and re-key accounts.")


def _needs_database(command):
    """Turn "no such table" and "cannot connect" into one clear line, not a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except (OperationalError, ProgrammingError) as error:
            db.session.rollback()
            url = db.engine.url.render_as_string(hide_password=True)
            raise click.ClickException(
                f"cannot use the database {url}: {error.orig.__class__.__name__}. Is it "
                "reachable, and migrated (`invx db upgrade`)?") from None

    return wrapper


def _echo_json(payload):
    click.echo(json.dumps(payload, ensure_ascii=False))


def _account_json(account, api_key=None):
    payload = {"name": account.name, "country": account.country, "fiscal_id": account.fiscal_id,
               "tax_authority": account.tax_authority}
    if api_key is not None:
        payload["api_key"] = api_key
    if account.tax_authority == "sandbox":
        payload["notice"] = SANDBOX_NOTICE
    return payload


@accounts_cli.command("create")
@click.argument("name")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. PT.")
@click.option("--fiscal-id", required=True, help="The fiscal id; for PT a 9-digit NIF.")
@click.option("--api-key", default=None,
              help="Keep a key your scripts already hold (16-128 printable ASCII, no spaces).")
@click.option("--tax-authority", type=click.Choice(adapter_names()), default="none",
              show_default=True, help="How series are registered with AT.")
@_needs_database
def create_account(name, country, fiscal_id, api_key, tax_authority):
    """Create an account and print it, with its API key, as JSON."""
    try:
        account, key = accounts_domain.create_account(name, country, fiscal_id, api_key,
                                                      tax_authority)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    _echo_json(_account_json(account, key))


@accounts_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@_needs_database
def list_accounts(as_json):
    """List the accounts (API keys are stored hashed and cannot be shown)."""
    rows = accounts_domain.list_accounts()
    if as_json:
        for account, count in rows:
            _echo_json({**_account_json(account), "sequences": count,
                        "created_at": account.created_at.isoformat() + "Z"})
        return
    click.echo(f"{'NAME':<24} {'COUNTRY':<7} {'FISCAL ID':<14} {'TAX AUTHORITY':<13} SEQUENCES")
    for account, count in rows:
        click.echo(f"{account.name:<24} {account.country:<7} {account.fiscal_id:<14} "
                   f"{account.tax_authority:<13} {count}")


@accounts_cli.command("rotate-key")
@click.argument("name")
@click.option("--api-key", default=None, help="Use this key instead of a fresh random one.")
@_needs_database
def rotate_key(name, api_key):
    """Give an account a new API key; the old one stops working at once."""
    try:
        account, key = accounts_domain.rotate_key(name, api_key)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    _echo_json({"name": account.name, "api_key": key})


DEMO_ACCOUNT = "demo"
DEMO_NIF = "123456789"


def _demo_key_file():
    return os.path.join(current_app.instance_path, "demo-api-key")


def _read_demo_key():
    try:
        with open(_demo_key_file()) as handle:
            key = handle.read().strip()
    except FileNotFoundError:
        return None
    return key if is_valid_api_key(key) else None


def _write_demo_key(key):
    path = _demo_key_file()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key + "\n")


def ensure_demo_account():
    """The demo account and its key, kept in the instance folder so it survives restarts."""
    key = _read_demo_key()
    account = account_for_key(key) if key else None
    if account is not None and account.name == DEMO_ACCOUNT:
        return account, key
    try:
        account = accounts_domain.find_account(DEMO_ACCOUNT)
    except accounts_domain.AccountError:
        account, key = accounts_domain.create_account(
            DEMO_ACCOUNT, "PT", DEMO_NIF, tax_authority="sandbox")
    else:
        account, key = accounts_domain.rotate_key(DEMO_ACCOUNT)
    _write_demo_key(key)
    return account, key


def _unused_serie(account):
    taken = set(db.session.scalars(select(Sequence.serie_key).where(
        Sequence.account_id == account.id)))
    candidate, n = "2026", 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"2026-{n}"
    return candidate


@click.command("demo")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The port the server will listen on, for the example.")
@with_appcontext
@_needs_database
def demo(port):
    """Make sure the demo account exists and print its key with a curl example."""
    account, key = ensure_demo_account()
    serie = _unused_serie(account)
    base = f"http://127.0.0.1:{port}"
    click.echo(f"""
invx demo account: {account.name} (Portugal, NIF {account.fiscal_id}, sandbox Tax Authority)
API key: {key}
(kept in {_demo_key_file()})

Create a sequence:
  curl -s -X POST '{base}/sequences.json?api_key={key}' \\
       -H 'Content-Type: application/json' \\
       -d '{{"sequence": {{"serie": "{serie}", "default_sequence": "1"}}}}'
List them:
  curl -s '{base}/sequences.json?api_key={key}'

{SANDBOX_NOTICE}
""")


def register_commands(app):
    app.cli.add_command(accounts_cli)
    app.cli.add_command(demo)


def _create_app():
    from . import create_app
    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=True,
                  help="invx: InvoiceXpress-compatible sequences, registered with AT.")
