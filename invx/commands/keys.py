"""``invx keys rotate|list``: the server's entry-signing keys."""
import click
from flask.cli import AppGroup

from .. import config
from ..secret_box import SecretKeyMissing, SecretUnreadable
from ..sequence_service import signing
from .common import echo_json, needs_database

keys_cli = AppGroup("keys", help="The server's entry-signing keys (ES256).")


@keys_cli.command("rotate")
@needs_database
def rotate():
    """Sign new entries with a fresh key; older keys stay published for verification."""
    try:
        kid = signing.rotate(config.current().secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise click.ClickException(str(error)) from None
    echo_json({"kid": kid, "published": len(signing.jwks()["keys"])})


@keys_cli.command("list")
@needs_database
def list_keys():
    """The published keys (JWKS), newest first: the first one signs."""
    echo_json(signing.jwks())
