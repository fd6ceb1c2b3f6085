"""``invx keys rotate|list`` and ``invx verify``: the signing keys, and checking a series."""
import json

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .. import accounts as accounts_domain
from .. import errors, numbering, signing
from ..secret_box import SecretKeyMissing, SecretUnreadable
from ..verification import verify_series
from .common import echo_json, needs_database

keys_cli = AppGroup("keys", help="The server's entry-signing keys (ES256).")


@keys_cli.command("rotate")
@needs_database
def rotate():
    """Sign new entries with a fresh key; older keys stay published for verification."""
    try:
        kid = signing.rotate(current_app.config["INVX_SECRET_KEY"])
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise click.ClickException(str(error)) from None
    echo_json({"kid": kid, "published": len(signing.jwks()["keys"])})


@keys_cli.command("list")
@needs_database
def list_keys():
    """The published keys (JWKS), newest first: the first one signs."""
    echo_json(signing.jwks())


@click.command("verify")
@click.argument("account")
@click.argument("series")
@with_appcontext
@needs_database
def verify(account, series):
    """Check a whole series: contiguous numbers, the chain, every signature.

    SERIES is its UUID, or an InvoiceXpress sub-series' integer id. Exits 1 on any break.
    """
    try:
        found = numbering.find_series(accounts_domain.find_account(account), series)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    except errors.ApiNotFound:
        raise click.ClickException(f"account {account} has no series {series}") from None
    report = verify_series(found)
    click.echo(json.dumps(report, indent=2))
    if not report["valid"]:
        raise click.exceptions.Exit(1)
