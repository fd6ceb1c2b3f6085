"""``invx demo``: the demo account of ``make run``, its key and a curl example."""
import os
import secrets

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from .. import accounts as accounts_domain
from .. import config
from ..auth import account_for_key, is_valid_api_key
from ..extensions import db
from ..models import Sequence
from .common import SANDBOX_NOTICE, needs_database

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


def ensure_local_secret_key():
    """Without INVX_SECRET_KEY, a random one kept in the instance folder, for ``make run``:
    the server needs one to seal its signing keys. Returns its path, or None."""
    if config.current().secret_key:
        return None
    path = os.path.join(current_app.instance_path, "secret-key")
    if not os.path.exists(path):
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
    return path


def _unused_serie(account):
    """DEMO, DEMO-2...: never a serie the README's examples create (2026, 2027), so a
    newcomer may run both this curl and the README's, in any order."""
    taken = set(db.session.scalars(select(Sequence.serie_key).where(
        Sequence.account_id == account.id)))
    candidate, n = "DEMO", 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"DEMO-{n}"
    return candidate


@click.command("demo")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="The port the server will listen on, for the example.")
@with_appcontext
@needs_database
def demo(port):
    """Make sure the demo account exists and print its key with a curl example.

    Exit status: 0 done, 1 the database cannot be used (is it migrated: `invx db upgrade`?).
    """
    account, key = ensure_demo_account()
    secret_file = ensure_local_secret_key()
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
Issue the next invoice number of a sequence (SEQUENCE_ID: its current_invoice_sequence_id):
  ENTRY=$(python3 -c 'import uuid; print(uuid.uuid4())')
  curl -s -X PUT -H 'Authorization: Bearer {key}' \\
       {base}/sequence/v1/series/SEQUENCE_ID/entries/$ENTRY

{SANDBOX_NOTICE}
""" + (f"INVX_SECRET_KEY is not set: using the one kept in {secret_file}.\n"
       if secret_file else ""))
