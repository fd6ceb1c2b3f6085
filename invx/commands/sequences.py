"""``invx sequences finish|annul``: the end of a sequence's series at AT."""
import click
from flask.cli import AppGroup

from .. import config
from ..registration.lifecycle import (
    LifecycleError,
    SequenceNotFound,
    annul_sequence,
    finish_sequence,
)
from .common import NotFound, echo_table, find_account, needs_database

COLUMNS = (("TYPE", 22), ("AT", 5), ("OUTCOME", 0))

sequences_cli = AppGroup("sequences", help="Finish or annul a sequence's series at AT.")


def _close_sequence(operation, account_name, serie, **kwargs):
    account = find_account(account_name)
    try:
        report, failed = operation(account, serie, config.current(), **kwargs)
    except SequenceNotFound as error:
        raise NotFound(str(error)) from None
    except LifecycleError as error:
        raise click.ClickException(str(error)) from None
    echo_table(COLUMNS, [(doc_type.name, f"{doc_type.at_class}/{doc_type.at_type}", outcome)
                         for doc_type, outcome in report],
               empty=f"sequence {serie}: no document type to close")
    if failed:
        raise click.ClickException("some types were not closed: the sequence issues no more "
                                   "documents; run the command again once the cause is fixed")


@sequences_cli.command("finish")
@click.argument("account")
@click.argument("serie")
@click.option("--justification", help="justificacao sent to AT (optional).")
@needs_database
def finish(account, serie, justification):
    """finalizarSerie for every type that issued documents, at its last number.

    Exit status: 0 every type finished, 1 refused or some type not finished (run it again
    once the cause is fixed), 2 no such account or sequence (or a usage error).
    """
    _close_sequence(finish_sequence, account, serie, justification=justification)


@sequences_cli.command("annul")
@click.argument("account")
@click.argument("serie")
@needs_database
def annul(account, serie):
    """anularSerie for every type: only for a series communicated by mistake, never used.

    Exit status: 0 every type annulled, 1 refused or some type not annulled (run it again
    once the cause is fixed), 2 no such account or sequence (or a usage error).
    """
    _close_sequence(annul_sequence, account, serie)
