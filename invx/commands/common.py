"""What the ``invx`` commands share: JSON output, clear database errors."""
import functools
import json

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from ..extensions import db

SANDBOX_NOTICE = (
    "Sandbox Tax Authority: validation codes (they begin with SBX) are made up locally for "
    "trying invx. They are NOT registered with AT and must never appear on a real document.")

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
