"""The embedded SQLite database, copied with SQLite's online backup API while it serves.

The copy is read from one read transaction held open for the whole backup: in WAL mode it
is a snapshot that takes no lock the server's writers wait for, and the backup never starts
over (without it, every commit by another connection restarts ``sqlite3_backup_step``
from the first page, and a busy server keeps a backup from ever finishing). The copy is
the database as it was when that transaction began: every entry acknowledged before then.

It is written under a temporary name beside the target, switched to a rollback journal
(one self-contained file, no ``-wal`` beside it), checked with ``PRAGMA integrity_check``,
flushed to disk, and only then renamed to the target.
"""
import contextlib
import sqlite3
from pathlib import Path
from typing import NamedTuple

from .files import FileError, check_target, written_whole

PAGES_PER_STEP = 1024  # 4 MiB of 4 KiB pages a step: a few milliseconds each
BUSY_TIMEOUT_MS = 30000  # as the server's connections wait


class BackupError(Exception):
    """The backup could not be made; the message names the cause and the fix."""


class BackupResult(NamedTuple):
    path: str
    size: int   # bytes
    pages: int


def backup_sqlite(source, target, force=False, progress=None):
    """Copy the SQLite database at ``source`` to the file ``target``.

    ``progress(copied, total)`` is told the pages copied after each step. Refuses to
    replace an existing ``target`` unless ``force``; raises BackupError.
    """
    source, target = Path(source).resolve(), Path(target).absolute()
    if not source.is_file():
        raise BackupError(f"there is no database at {source}: check INVX_DATABASE_URL and "
                          "INVX_INSTANCE_PATH (`invx db upgrade` creates it)")
    if target.exists() and target.resolve() == source:
        raise BackupError(f"{target} is the database itself: back it up to another file")
    try:
        check_target(target, force, "invx-backup.sqlite3")
        with written_whole(target) as partial:
            pages = _copy(source, partial, progress)
            _check_integrity(partial)
    except FileError as error:
        raise BackupError(str(error)) from None
    except (sqlite3.Error, OSError) as error:
        raise BackupError(f"the backup to {target} failed ({error}); nothing was written "
                          "there") from None
    return BackupResult(str(target), target.stat().st_size, pages)


def _copy(source, partial, progress):
    """Copy ``source`` into ``partial`` from one read snapshot; returns the page count."""
    with contextlib.closing(_connect(source.as_uri() + "?mode=rw")) as origin, \
            contextlib.closing(_connect(Path(partial).as_uri())) as copy:
        origin.execute("BEGIN")  # deferred: the snapshot begins at the first read
        origin.execute("SELECT count(*) FROM sqlite_master").fetchone()
        total = origin.execute("PRAGMA page_count").fetchone()[0]

        def step(_status, remaining, pages):
            if progress is not None:
                progress(pages - remaining, pages)

        origin.backup(copy, pages=PAGES_PER_STEP, progress=step)
        origin.execute("COMMIT")
        copy.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal to keep with it
    return total


def _connect(uri):
    try:
        connection = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as error:
        raise BackupError(f"cannot open {uri}: {error}") from None
    connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return connection


def integrity_problems(path):
    """What ``PRAGMA integrity_check`` finds wrong in the database at ``path`` (none: [])."""
    with contextlib.closing(_connect(Path(path).as_uri() + "?mode=ro")) as copy:
        rows = [row[0] for row in copy.execute("PRAGMA integrity_check")]
    return [] if rows == ["ok"] else rows


def _check_integrity(path):
    problems = integrity_problems(path)
    if problems:
        raise BackupError(f"the copy fails SQLite's integrity check ({problems[0]}), so it "
                          "was not kept: check the database itself with `sqlite3 FILE "
                          "'PRAGMA integrity_check'`")
