"""``invx sequences finish|annul`` and ``invx at-log``: a series' end, and AT's record."""
import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import select

from .. import accounts as accounts_domain
from ..extensions import db
from ..lifecycle import LifecycleError, annul_sequence, finish_sequence
from ..models import AtCall
from .common import echo_json, needs_database

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
        raise click.ClickException("some types were not closed: the sequence issues no more "
                                   "documents; run the command again once the cause is fixed")


@sequences_cli.command("finish")
@click.argument("account")
@click.argument("serie")
@click.option("--justification", help="justificacao sent to AT (optional).")
@needs_database
def finish(account, serie, justification):
    """finalizarSerie for every type that issued documents, at its last number."""
    _close_sequence(finish_sequence, account, serie, justification=justification)


@sequences_cli.command("annul")
@click.argument("account")
@click.argument("serie")
@needs_database
def annul(account, serie):
    """anularSerie for every type: only for a series communicated by mistake, never used."""
    _close_sequence(annul_sequence, account, serie)


@click.command("at-log")
@click.argument("account")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@with_appcontext
@needs_database
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
            echo_json(row)
        else:
            kind = f"{call.doc_class or ''}/{call.doc_type or ''}"
            click.echo(f"{row['at']}  {call.operation:<15} {call.serie or '':<12} {kind:<6} "
                       f"{call.outcome:<8} {call.result_code or '':<5} {call.duration_ms:>6}ms  "
                       f"{call.message or call.validation_code or ''}")
