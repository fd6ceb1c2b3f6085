"""``invx backup``: the embedded database copied whole, checked, never over a file by
accident, and refused on PostgreSQL."""
import sqlite3
import sys

import pytest

from invx import create_app
from invx.backups import sqlite as sqlite_backup
from invx.extensions import db

from ..support.backups import entry_ids, migrated_app, verify_every_series
from ..support.settings import suite_settings


def backup(app, *args):
    return app.test_cli_runner().invoke(args=["backup", *map(str, args)])


def test_a_backup_is_one_checked_file_and_names_the_secret_key(sqlite_app, tmp_path):
    app, _ = sqlite_app
    result = backup(app, tmp_path / "copy.sqlite3")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and "integrity ok" in lines[0] and "INVX_SECRET_KEY" in lines[0]
    size = (tmp_path / "copy.sqlite3").stat().st_size
    assert f"{size:,} bytes" in lines[0]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["copy.sqlite3", "live"]
    with sqlite3.connect(tmp_path / "copy.sqlite3") as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT count(*) FROM entries").fetchone() == (12,)


def test_the_copy_is_an_instance_that_verifies(sqlite_app, tmp_path):
    app, _ = sqlite_app
    assert backup(app, tmp_path / "copy.sqlite3").exit_code == 0
    restored = migrated_app(f"sqlite:///{tmp_path}/copy.sqlite3", tmp_path)
    try:
        assert len(verify_every_series(restored)) == 15 + 2  # acme's types, acme-es's two
        assert entry_ids(restored) == entry_ids(app)
    finally:
        with restored.app_context():
            db.engine.dispose()


def test_an_existing_file_is_replaced_only_with_force(sqlite_app, tmp_path):
    app, _ = sqlite_app
    target = tmp_path / "copy.sqlite3"
    target.write_text("an older backup")
    result = backup(app, target)
    assert result.exit_code == 1
    assert "already exists" in result.output and "--force" in result.output
    assert target.read_text() == "an older backup"
    assert backup(app, target, "--force").exit_code == 0
    assert target.read_bytes().startswith(b"SQLite format 3\0")


def test_a_copy_that_fails_its_check_is_not_kept(sqlite_app, tmp_path, monkeypatch):
    app, _ = sqlite_app
    monkeypatch.setattr(sqlite_backup, "integrity_problems",
                        lambda path: ["row 3 missing from index ix_x"])
    result = backup(app, tmp_path / "copy.sqlite3")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "integrity check" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live"]  # no partial file


@pytest.mark.parametrize("target, message", [
    ("live/invx.sqlite3", "is the database itself"),
    ("live", "is a directory"),
    ("nowhere/copy.sqlite3", "there is no directory"),
])
def test_a_target_that_cannot_be_a_backup_is_refused(sqlite_app, tmp_path, monkeypatch,
                                                     target, message):
    app, _ = sqlite_app
    monkeypatch.chdir(tmp_path)
    result = backup(app, target, "--force")
    assert result.exit_code == 1 and message in result.output
    assert result.output.count("\n") == 1


def test_a_bar_is_shown_on_a_terminal(sqlite_app, tmp_path, monkeypatch):
    app, _ = sqlite_app
    monkeypatch.setattr(sys.modules["invx.commands.backup"], "on_a_terminal", lambda: True)
    monkeypatch.setattr(sqlite_backup, "PAGES_PER_STEP", 4)
    result = backup(app, tmp_path / "copy.sqlite3")
    assert result.exit_code == 0 and "backing up" in result.stderr


def test_postgresql_is_pointed_at_pg_dump(tmp_path):
    app = create_app(suite_settings("postgresql://invx@127.0.0.1:9/invx",
                                    instance_path=str(tmp_path)), TESTING=True)
    result = backup(app, tmp_path / "copy")
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "docs/backups.md" in result.output
    assert result.output.count("\n") == 1
    assert not (tmp_path / "copy").exists()


def test_a_missing_database_is_one_line(tmp_path):
    app = create_app(suite_settings(f"sqlite:///{tmp_path}/absent.sqlite3",
                                    instance_path=str(tmp_path)), TESTING=True)
    result = backup(app, tmp_path / "copy")
    assert result.exit_code == 1 and "there is no database" in result.output
    assert not (tmp_path / "absent.sqlite3").exists()  # not created by looking
