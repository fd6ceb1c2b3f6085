"""The ``invx`` command: ``invx db upgrade``, ``invx accounts ...``, ``invx demo``."""
import functools
import json
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import accounts as accounts_domain
from .auth import account_for_key, is_valid_api_key
from .extensions import db
from .lifecycle import LifecycleError, annul_sequence, finish_sequence
from .models import AtCall, Sequence
from .tax_authority import adapter_names
from .tax_authority.fake_server import fake_at_command

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
@_needs_database
def set_tax_authority(name, adapter, endpoint, username, public_key, client_cert, client_key,
                      software_certificate, series_type):
    """Choose how an account's series are registered with AT. For --adapter at, the
    password is prompted for (or read from standard input) and stored encrypted."""
    options = {"endpoint": endpoint, "username": username,
               "public_key": public_key.read() if public_key else None,
               "client_cert": client_cert.read() if client_cert else None,
               "client_key": client_key.read() if client_key else None,
               "software_certificate": software_certificate, "series_type": series_type}
    if adapter == "at":
        options["password"] = _read_password(username or "the sub-user")
    try:
        account, reset = accounts_domain.set_tax_authority(
            name, adapter, current_app.config["INVX_SECRET_KEY"], **options)
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    settings = account.tax_authority_config or {}
    _echo_json({**_account_json(account), "endpoint": settings.get("endpoint"),
                "username": settings.get("username"),
                "client_certificate": "client_cert_pem" in settings,
                "sandbox_codes_reset": reset})


sequences_cli = AppGroup("sequences", help="Finish or annul a sequence's series at AT.")


def _close_sequence(operation, account_name, serie, **kwargs):
    try:
        account = accounts_domain.find_account(account_name)
        report, failed = operation(account, serie, config=current_app.config, **kwargs)
    except (accounts_domain.AccountError, LifecycleError) as error:
        raise click.ClickException(str(error)) from None
    for doc_type, outcome in report:
        click.echo(f"{doc_type.name:<22} {doc_type.at_class}/{doc_type.at_type}  {outcome}")
    if failed:
        raise click.ClickException("AT refused some types: the sequence stays open; "
                                   "run the command again once the cause is fixed")


@sequences_cli.command("finish")
@click.argument("account")
@click.argument("serie")
@click.option("--justification", help="justificacao sent to AT (optional).")
@_needs_database
def finish(account, serie, justification):
    """finalizarSerie for every type that issued documents, at its last number."""
    _close_sequence(finish_sequence, account, serie, justification=justification)


@sequences_cli.command("annul")
@click.argument("account")
@click.argument("serie")
@_needs_database
def annul(account, serie):
    """anularSerie for every type: only for a series communicated by mistake, never used."""
    _close_sequence(annul_sequence, account, serie)


@click.command("at-log")
@click.argument("account")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
@_needs_database
def at_log(account, limit, as_json):
    """The account's calls to the Tax Authority, newest first (never with credentials)."""
    try:
        account_id = accounts_domain.find_account(account).id
    except accounts_domain.AccountError as error:
        raise click.ClickException(str(error)) from None
    calls = db.session.scalars(select(AtCall).where(AtCall.account_id == account_id)
                               .order_by(AtCall.id.desc()).limit(limit))
    for call in calls:
        row = {"at": call.created_at.isoformat(timespec="milliseconds") + "Z",
               "adapter": call.adapter, "operation": call.operation, "serie": call.serie,
               "doc_class": call.doc_class, "doc_type": call.doc_type, "outcome": call.outcome,
               "result_code": call.result_code, "validation_code": call.validation_code,
               "duration_ms": call.duration_ms, "message": call.message}
        if as_json:
            _echo_json(row)
        else:
            kind = f"{call.doc_class or ''}/{call.doc_type or ''}"
            click.echo(f"{row['at']}  {call.operation:<15} {call.serie or '':<12} {kind:<6} "
                       f"{call.outcome:<8} {call.result_code or '':<5} {call.duration_ms:>6}ms  "
                       f"{call.message or call.validation_code or ''}")


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
    app.cli.add_command(sequences_cli)
    app.cli.add_command(at_log)
    app.cli.add_command(fake_at_command)
    app.cli.add_command(demo)


def _create_app():
    from . import create_app
    return create_app()


main = FlaskGroup(create_app=_create_app, add_version_option=True,
                  help="invx: InvoiceXpress-compatible sequences, registered with AT.")
