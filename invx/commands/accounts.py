"""``invx accounts``: create, list, re-key, and choose the Tax Authority."""
import sys

import click
from flask.cli import AppGroup

from .. import accounts as accounts_domain
from .. import config
from ..tax_authority import adapter_names
from .common import account_json, echo_json, echo_table, find_account, needs_database

accounts_cli = AppGroup("accounts", help="Create, list and re-key accounts.")
LIST_COLUMNS = (("NAME", 24), ("COUNTRY", 7), ("FISCAL ID", 14), ("TAX AUTHORITY", 13),
                ("SEQUENCES", 0))


@accounts_cli.command("create")
@click.argument("name")
@click.option("--country", required=True, help="ISO 3166-1 alpha-2 code, e.g. PT.")
@click.option("--fiscal-id", required=True, help="The fiscal id; for PT a 9-digit NIF.")
@click.option("--api-key", default=None,
              help="Keep a key your scripts already hold (16-128 printable ASCII, no spaces).")
@click.option("--tax-authority", type=click.Choice(adapter_names()), default="none",
              show_default=True, help="How series are registered with AT.")
@needs_database
def create_account(name, country, fiscal_id, api_key, tax_authority):
    """Create an account and print it, with its API key, as JSON.

    Exit status: 0 created, 1 refused (the message says why), 2 a usage error.
    """
    try:
        account, key = accounts_domain.create_account(name, country, fiscal_id, api_key,
                                                      tax_authority)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    echo_json(account_json(account, key))


@accounts_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@needs_database
def list_accounts(as_json):
    """List the accounts (API keys are stored hashed and cannot be shown): a table, or with
    --json one object per line (none when there is no account).

    Exit status: 0 listed, 1 the database cannot be used, 2 a usage error.
    """
    rows = accounts_domain.list_accounts()
    if as_json:
        for account, count in rows:
            echo_json({**account_json(account), "sequences": count,
                        "created_at": account.created_at.isoformat() + "Z"})
        return
    echo_table(LIST_COLUMNS, [(account.name, account.country, account.fiscal_id,
                               account.tax_authority, str(count)) for account, count in rows],
               empty="no accounts yet: `invx accounts create NAME --country PT --fiscal-id NIF`")


@accounts_cli.command("rotate-key")
@click.argument("name")
@click.option("--api-key", default=None, help="Use this key instead of a fresh random one.")
@needs_database
def rotate_key(name, api_key):
    """Give an account a new API key; the old one stops working at once.

    Exit status: 0 done, 1 the key was refused, 2 no such account (or a usage error).
    """
    find_account(name)
    try:
        account, key = accounts_domain.rotate_key(name, api_key)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    echo_json({"name": account.name, "api_key": key})


def _read_password(username):
    """The AT password: asked for at a terminal, read from standard input otherwise, never
    taken from the command line (where other users and shell history would see it)."""
    if sys.stdin.isatty():
        return click.prompt(f"AT password for {username}", hide_input=True)
    return sys.stdin.readline().rstrip("\r\n")


@accounts_cli.command("set-tax-authority")
@click.argument("name")
@click.option("--adapter", type=click.Choice(adapter_names()), required=True,
              help="at: AT's SeriesWS; sandbox: local stand-in; none: no registration.")
@click.option("--endpoint", help="test, production, or a URL (http only on loopback).")
@click.option("--username", help="The AT sub-user: NIF/N, e.g. 123456789/1.")
@click.option("--public-key", type=click.File("rb"),
              help="AT's encryption key: a PEM public key or an X.509 certificate (PEM/DER).")
@click.option("--client-cert", type=click.File("rb"), help="Client TLS certificate (mTLS).")
@click.option("--client-key", type=click.File("rb"), help="Its private key (unencrypted).")
@click.option("--software-certificate", type=int, help="numCertSWFatur (default 0).")
@click.option("--series-type", type=click.Choice(["N", "F", "R"]),
              help="tipoSerie: N normal (default), F training, R recovery.")
@needs_database
def set_tax_authority(name, adapter, endpoint, username, public_key, client_cert, client_key,
                      software_certificate, series_type):
    """Choose how an account's series are registered with AT. For --adapter at, the
    password is prompted for (or read from standard input) and stored encrypted.

    Exit status: 0 done, 1 refused (the message says why), 2 no such account (or a usage
    error).
    """
    find_account(name)
    options = {"endpoint": endpoint, "username": username,
               "public_key": public_key.read() if public_key else None,
               "client_cert": client_cert.read() if client_cert else None,
               "client_key": client_key.read() if client_key else None,
               "software_certificate": software_certificate, "series_type": series_type}
    if adapter == "at":
        options["password"] = _read_password(username or "the sub-user")
    try:
        account, reset = accounts_domain.set_tax_authority(
            name, adapter, config.current().secret_key, **options)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    stored = account.tax_authority_config or {}
    echo_json({**account_json(account), "endpoint": stored.get("endpoint"),
                "username": stored.get("username"),
                "client_certificate": "client_cert_pem" in stored,
                "sandbox_codes_reset": reset})
