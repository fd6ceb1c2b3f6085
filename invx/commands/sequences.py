"""``invx sequences finish|annul``: the end of a sequence's series at AT."""
import click
from flask.cli import AppGroup

from .. import accounts as accounts_domain
from .. import config
from ..registration.lifecycle import LifecycleError, annul_sequence, finish_sequence
from .common import needs_database

sequences_cli = AppGroup("sequences", help="Finish or annul a sequence's series at AT.")


def _close_sequence(operation, account_name, serie, **kwargs):
    try:
        account = accounts_domain.find_account(account_name)
        report, failed = operation(account, serie, config.current(), **kwargs)
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
