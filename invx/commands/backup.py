"""``invx backup`` (the embedded database, copied online) and ``invx export`` (an account as
JSON lines)."""
import contextlib
import os
import sys

import click
from flask.cli import with_appcontext

from .. import accounts as accounts_domain
from .. import config
from ..backups import export as export_domain
from ..backups.files import FileError, check_target, written_whole
from ..backups.sqlite import BackupError, backup_sqlite
from ..extensions import db
from ..read_replica import read_engine
from .common import needs_database

DOCS = "docs/backups.md"
KEY_REMINDER = ("keep INVX_SECRET_KEY with it, stored apart: without that key the AT "
                "passwords, client keys and signing keys sealed in it cannot be opened")


class NotFound(click.ClickException):
    exit_code = 2


def on_a_terminal():
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(label):
    """A callable told ``(done, total)``: a bar on standard error at a terminal, else None."""
    if not on_a_terminal():
        yield None
        return
    with click.progressbar(length=1, label=label, file=sys.stderr, show_pos=True,
                           show_eta=True) as bar:
        def advance(done, total):
            bar.length = max(total, 1)  # known once the work has begun
            bar.update(done - bar.pos)

        yield advance


@click.command("backup")
@click.argument("file", type=click.Path())
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
@with_appcontext
def backup(file, force):
    """Copy the embedded SQLite database to FILE, safely while the server is writing.

    The copy is checked (PRAGMA integrity_check) and renamed into place only when whole.
    On PostgreSQL, use pg_dump instead (docs/backups.md).
    """
    url = db.engine.url
    if url.get_backend_name() != "sqlite":
        raise click.ClickException(
            f"invx backup copies the embedded SQLite database, and this instance uses "
            f"{url.get_backend_name()}: back it up with pg_dump, as {DOCS} shows")
    if url.database in (None, "", ":memory:"):
        raise click.ClickException("the database is in memory: there is no file to back up")
    try:
        with progress_bar("backing up") as advance:
            result = backup_sqlite(url.database, file, force=force, progress=advance)
    except BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up to {result.path}: {result.size:,} bytes ({_mebibytes(result.size)}"
               f"), integrity ok; {KEY_REMINDER}")


def _mebibytes(size):
    return f"{size / 2**20:.1f} MiB"


@click.command("export")
@click.argument("account")
@click.option("--output", "-o", default="-", show_default=True,
              type=click.Path(allow_dash=True),
              help="The file to write (in place once whole), or - for standard output.")
@click.option("--force", is_flag=True, help="Replace the output file if it exists.")
@with_appcontext
@needs_database
def export(account, output, force):
    """Write ACCOUNT's data as JSON lines: the account, its InvoiceXpress sequences, every
    series and entry, the AT audit log, and the public keys that sign entries.

    One object per line, each with a "type"; never a secret (docs/backups.md lists the
    fields). Exits 2 if there is no such account.
    """
    try:
        account_id = accounts_domain.find_account(account).id
    except accounts_domain.AccountError as error:
        raise NotFound(str(error)) from None
    if output == "-":
        try:
            _export(account_id, sys.stdout.write)
            sys.stdout.flush()
        except BrokenPipeError:  # `invx export acme | head`: the reader has had enough
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(1) from None
        return
    try:
        check_target(output, force, "invx-export.jsonl")
        with written_whole(output) as partial, open(partial, "w", encoding="utf-8") as file:
            written = _export(account_id, file.write)
    except FileError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"exported {written:,} rows of {account} to {output}", err=True)


def _export(account_id, write):
    lease = config.current().registration_lease
    engine = read_engine() or db.engine  # a replica's lag is harmless to a snapshot
    with export_domain.snapshot(engine) as session, progress_bar("exporting") as advance:
        return export_domain.export_account(session, account_id, write, lease,
                                            progress=advance)
