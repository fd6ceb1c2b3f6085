"""What the ``invx`` commands share: JSON output, tables, clear errors and exit statuses."""
import functools
import json

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from .. import accounts as accounts_domain
from ..extensions import db

SANDBOX_NOTICE = (
    "Sandbox Tax Authority: validation codes (they begin with SBX) are made up locally for "
    "trying invx. They are NOT registered with AT and must never appear on a real document.")


class NotFound(click.ClickException):
    """What the command was told to work on (an account, a series, a sequence) does not
    exist: exit status 2, as click's usage errors, so that a script tells a typo from a
    failure (1: for ``invx verify``, a broken series)."""

    exit_code = 2


def find_account(name):
    """The account named ``name``; NotFound if there is none."""
    try:
        return accounts_domain.find_account(name)
    except accounts_domain.AccountError as error:
        raise NotFound(str(error)) from None


def echo_table(columns, rows, empty):
    """``rows`` (tuples of strings) under a header line of ``columns`` ((title, width)
    pairs, the last one unpadded); ``empty``, one line, when there is no row."""
    if not rows:
        click.echo(empty)
        return
    widths = [width for _, width in columns[:-1]]

    def line(cells):
        padded = [f"{cell:<{width}}" for cell, width in zip(cells, widths, strict=False)]
        return " ".join([*padded, str(cells[-1])]).rstrip()

    click.echo(line([title for title, _ in columns]))
    for row in rows:
        click.echo(line(row))


def needs_database(command):
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


def echo_json(payload):
    click.echo(json.dumps(payload, ensure_ascii=False))


def account_json(account, api_key=None):
    payload = {"name": account.name, "country": account.country, "fiscal_id": account.fiscal_id,
               "tax_authority": account.tax_authority}
    if api_key is not None:
        payload["api_key"] = api_key
    if account.tax_authority == "sandbox":
        payload["notice"] = SANDBOX_NOTICE
    return payload
