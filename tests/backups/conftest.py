"""Fixtures of the backup tests: an instance on an SQLite file of its own (whatever database
the suite runs on), with accounts, sequences and entries."""
import shutil

import pytest

from invx.auth import key_gate
from invx.extensions import db

from ..support.backups import migrated_app, populate


@pytest.fixture(scope="session")
def populated_sqlite(tmp_path_factory):
    """An SQLite database made once (registering a sequence's 17 types takes seconds), with
    where entries may be issued; each test gets a copy."""
    folder = tmp_path_factory.mktemp("populated")
    app = migrated_app(f"sqlite:///{folder}/invx.sqlite3", folder)
    targets = populate(app)
    with app.app_context():
        db.engine.dispose()  # and the WAL checkpointed into the file
    return folder / "invx.sqlite3", targets


@pytest.fixture
def sqlite_app(populated_sqlite, tmp_path):
    """An app on ``tmp_path/live/invx.sqlite3``, a copy of the populated database; yields it
    with where entries may be issued."""
    source, targets = populated_sqlite
    (tmp_path / "live").mkdir()
    shutil.copyfile(source, tmp_path / "live" / "invx.sqlite3")
    app = migrated_app(f"sqlite:///{tmp_path}/live/invx.sqlite3", tmp_path / "live")
    yield app, targets
    with app.app_context():
        db.engine.dispose()
    key_gate.reset()
