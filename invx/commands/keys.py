"""``invx keys rotate|list``: the server's entry-signing keys."""
import click
from flask.cli import AppGroup
from sqlalchemy import select

from .. import config
from ..extensions import db
from ..models import SigningKey
from ..secret_box import SecretKeyMissing, SecretUnreadable
from ..sequence_service import signing
from .common import echo_json, echo_table, needs_database

keys_cli = AppGroup("keys", help="The server's entry-signing keys (ES256).")
COLUMNS = (("KID", 36), ("CREATED", 24), ("ALG", 5), ("USE", 0))


@keys_cli.command("rotate")
@needs_database
def rotate():
    """Sign new entries with a fresh key; older keys stay published for verification.

    Exit status: 0 rotated, 1 the key cannot be sealed (INVX_SECRET_KEY) or the database
    cannot be used.
    """
    try:
        kid = signing.rotate(config.current().secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise click.ClickException(str(error)) from None
    echo_json({"kid": kid, "published": len(signing.jwks()["keys"])})


@keys_cli.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="The published keys as a JSON Web Key Set, as GET /sequence/v1/keys.")
@needs_database
def list_keys(as_json):
    """The published keys, newest first: the first one signs, the others verify what they
    signed. None until the first entry is signed (or `invx keys rotate`).

    Exit status: 0 listed, 1 the database cannot be used.
    """
    if as_json:
        echo_json(signing.jwks())
        return
    keys = db.session.scalars(select(SigningKey).order_by(SigningKey.created_at.desc(),
                                                          SigningKey.id))
    echo_table(COLUMNS, [(key.id, key.created_at.isoformat(timespec="seconds") + "Z",
                          key.public_jwk.get("alg", ""), "signs" if index == 0 else "verifies")
                         for index, key in enumerate(keys)],
               empty="no signing key yet: the first entry signed makes one "
                     "(or `invx keys rotate`)")
