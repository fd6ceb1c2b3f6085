"""``invx verify``: check a whole series, as anyone could offline."""
import json

import click
from flask.cli import with_appcontext

from .. import accounts as accounts_domain
from .. import errors
from ..sequence_service.series import find_series
from ..sequence_service.verification import verify_series
from .common import needs_database


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
        found = find_series(accounts_domain.find_account(account), series)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    except errors.ApiNotFound:
        raise click.ClickException(f"account {account} has no series {series}") from None
    report = verify_series(found)
    click.echo(json.dumps(report, indent=2))
    if not report["valid"]:
        raise click.exceptions.Exit(1)
