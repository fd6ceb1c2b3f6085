"""The restore drill of docs/backups.md, as a test: back up while entries are being issued,
restore the copy as a fresh instance, and ``invx verify`` every series; every entry
acknowledged before the backup began is in the copy."""
import contextlib
import secrets
import shutil
import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from invx.backups import sqlite as sqlite_backup
from invx.extensions import db

from ..support.backups import EntryWriter, entry_ids, migrated_app, populate, verify_every_series
from ..support.postgres import (
    POSTGRES_URL,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
    requires_postgres,
)

TOOL_TIMEOUT = 60  # seconds for pg_dump or pg_restore of a few hundred rows


def _pacing_bar(writer, steps):
    """Instead of the terminal's bar: after each step, wait for the writer to commit one
    more entry, so the server writes between every two steps of the backup."""

    @contextlib.contextmanager
    def progress_bar(label):
        def advance(copied, total):
            steps.append((copied, total))
            writer.wait_for_more(len(writer.acked))

        yield advance

    return progress_bar


def test_sqlite_backup_while_issuing_restores_and_verifies(sqlite_app, tmp_path, monkeypatch):
    app, targets = sqlite_app
    writer, steps = EntryWriter(app, targets), []
    monkeypatch.setattr(sqlite_backup, "PAGES_PER_STEP", 2)
    monkeypatch.setattr(sys.modules["invx.commands.backup"], "progress_bar",
                        _pacing_bar(writer, steps))
    writer.start()
    writer.wait_for_more(0)
    acknowledged = list(writer.acked)  # before the backup began
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "backup.sqlite3")])
    during = len(writer.acked) - len(acknowledged)
    writer.stop()
    assert result.exit_code == 0, result.output
    # The server wrote between the steps, and the backup never started over.
    assert len(steps) > 5 and during >= len(steps) - 1
    assert [copied for copied, _ in steps] == sorted(copied for copied, _ in steps)
    assert steps[-1][0] == steps[-1][1]

    instance = tmp_path / "restored"  # a fresh instance: the copy is its database
    instance.mkdir()
    shutil.copyfile(tmp_path / "backup.sqlite3", instance / "invx.sqlite3")
    restored = migrated_app(None, instance)
    try:
        verify_every_series(restored)
        restored_ids = entry_ids(restored)
        assert set(acknowledged) <= restored_ids <= entry_ids(app)
    finally:
        with restored.app_context():
            db.engine.dispose()


def _libpq_url(url, database=None):
    url = make_url(url).set(drivername="postgresql")
    if database is not None:
        url = url.set(database=database)
    return url.render_as_string(hide_password=False)


def _run(*command):
    done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT,
                          check=False)
    assert done.returncode == 0, f"{command[0]}: {done.stderr}"


@contextlib.contextmanager
def _fresh_database():
    """A database of its own on the test server, dropped afterwards; yields its name."""
    name = f"invx_drill_{secrets.token_hex(4)}"
    engine = create_engine(_libpq_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield name
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


@requires_postgres
def test_postgresql_dump_while_issuing_restores_and_verifies(tmp_path):
    schema = create_postgres_schema()
    app, writer = migrated_app(postgres_schema_url(schema), tmp_path), None
    try:
        writer = EntryWriter(app, populate(app))
        writer.start()
        writer.wait_for_more(0)
        acknowledged = list(writer.acked)
        dump = tmp_path / "invx.dump"
        _run("pg_dump", "--format=custom", f"--schema={schema}", f"--file={dump}",
             f"--dbname={_libpq_url(POSTGRES_URL)}")
        writer.stop()
        with _fresh_database() as database:
            _run("pg_restore", "--no-owner", "--exit-on-error",
                 f"--dbname={_libpq_url(POSTGRES_URL, database)}", str(dump))
            url = make_url(postgres_schema_url(schema)).set(database=database)
            restored = migrated_app(url.render_as_string(hide_password=False), tmp_path)
            try:
                verify_every_series(restored)
                assert set(acknowledged) <= entry_ids(restored) <= entry_ids(app)
            finally:
                with restored.app_context():
                    db.engine.dispose()
    finally:
        if writer is not None:
            writer.stopped.set()
            writer.join(timeout=30)
        with app.app_context():
            db.engine.dispose()
        drop_postgres_schema(schema)
