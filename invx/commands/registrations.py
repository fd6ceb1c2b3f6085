"""``invx registrations resume``: the registrations with AT a dead worker left unfinished."""
import click
from flask.cli import AppGroup

from .. import config
from ..registration.resume import FAILED, RESUMED, SKIPPED, interrupted, resume_all
from .common import find_account, needs_database

registrations_cli = AppGroup("registrations",
                             help="Registrations with AT that a worker left unfinished.")


@registrations_cli.command("resume")
@click.option("--account", help="Only this account's registrations.")
@needs_database
def resume(account):
    """Resume every registration whose lease ran out (its worker died).

    AT is asked about each type that was sent (consultarSeries) and the codes it gave are
    recorded; types never sent are registered; an interrupted creation is completed. Made
    for a timer: one line per sequence, then a summary.

    Exit status: 0 none failed (or none was found), 1 one failed or the database cannot be
    used, 2 no such account (or a usage error).
    """
    account_id = find_account(account).id if account else None
    click.echo(f"{len(interrupted(account_id))} interrupted registration(s) found")
    counts = dict.fromkeys((RESUMED, FAILED, SKIPPED), 0)
    for result in resume_all(config.current(), account_id):
        counts[result.status] += 1
        click.echo(f"{result.account} {result.serie} (sequence {result.sequence_id}): "
                   f"{result.status}: {result.detail}")
    click.echo(f"{sum(counts.values())} interrupted registration(s): {counts[RESUMED]} "
               f"resumed, {counts[FAILED]} failed, {counts[SKIPPED]} skipped")
    if counts[FAILED]:
        raise click.exceptions.Exit(1)
