"""``invx verify``: check a whole series, every entry, as anyone could offline."""
import contextlib
import json
import sys

import click
from flask.cli import with_appcontext

from .. import config, errors
from ..sequence_service.series import find_series
from ..sequence_service.verification import verify_series
from .common import NotFound, find_account, needs_database

STEPS = 10  # progress lines when not on a terminal: one per tenth of the series


@click.command("verify")
@click.argument("account")
@click.argument("series")
@click.option("--progress/--no-progress", default=True, show_default=True,
              help="Show progress on standard error: a bar on a terminal, else a line "
                   "per tenth of the series.")
@with_appcontext
@needs_database
def verify(account, series, progress):
    """Check a whole series: contiguous numbers, the chain, every signature.

    SERIES is its UUID, or an InvoiceXpress sub-series' integer id. Unlike GET .../verify,
    which starts from the series' checkpoint, this checks every entry from the start (about
    0.1 ms each), and sets the checkpoint where the chain holds. The report is JSON.

    Exit status: 0 the series is intact, 1 it is broken (the report says where) or the
    database cannot be used, 2 no such account or series (or a usage error).
    """
    found_account = find_account(account)
    try:
        found = find_series(found_account, series)
    except errors.ApiNotFound:
        raise NotFound(f"account {account} has no series {series}") from None
    total = max(found.last_number - found.start + 1, 0)
    with _progress(total if progress else 0) as advance:
        report = verify_series(found, config.current().secret_key, progress=advance)
    click.echo(json.dumps(report, indent=2))
    if not report["valid"]:
        raise click.exceptions.Exit(1)


def on_a_terminal():
    return sys.stderr.isatty()


@contextlib.contextmanager
def _progress(total):
    """A callable told how many more entries were checked: a bar on a terminal, plain
    lines otherwise, nothing for an empty series or ``--no-progress``."""
    if not total:
        yield None
    elif on_a_terminal():
        with click.progressbar(length=total, label="verifying", file=sys.stderr,
                               show_pos=True, show_eta=True) as bar:
            yield bar.update
    else:
        yield _Lines(total)


class _Lines:
    def __init__(self, total):
        self.total, self.done, self.step = total, 0, 0

    def __call__(self, entries):
        self.done += entries
        step = self.done * STEPS // self.total
        if step > self.step:
            self.step = step
            click.echo(f"verified {self.done} of {self.total} entries "
                       f"({self.done * 100 // self.total}%)", err=True)
