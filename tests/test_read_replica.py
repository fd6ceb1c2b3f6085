"""``INVX_READ_DATABASE_URL``: the reads that tolerate a replica's lag come from it (the
entries list, /verify, /keys, ``invx export``); everything else, and every write, from
the primary. Shown offline with two SQLite files, the replica a copy of the primary that
stops following it (a standby that lags)."""
import json
import sqlite3
import uuid

import flask_migrate
import pytest
from sqlalchemy import create_engine

from invx import create_app
from invx.accounts import create_account
from invx.extensions import db
from invx.read_replica import ENGINE, read_engine

from .support.sequence_service import API, SALES, put_entry, put_series
from .support.settings import suite_settings


def _copy(source, target):
    with sqlite3.connect(source) as primary, sqlite3.connect(target) as replica:
        primary.backup(replica)


@pytest.fixture
def lagging(tmp_path):
    """An app whose replica holds two entries of SALES, and the primary a third; returns
    (its test client, the key's headers, the two files, the third entry's id)."""
    primary, replica = tmp_path / "primary.sqlite3", tmp_path / "replica.sqlite3"
    first = create_app(suite_settings(f"sqlite:///{primary}",
                                      instance_path=str(tmp_path / "one")), TESTING=True)
    with first.app_context():
        flask_migrate.upgrade()
        _, key = create_account("acme-es", "ES", "B12345678", None, "none")
    auth = {"Authorization": f"Bearer {key}"}
    client = first.test_client()
    assert put_series(client, auth).status_code == 200
    for _ in range(2):
        assert put_entry(client, auth).status_code == 200
    with first.app_context():
        db.engine.dispose()
    _copy(primary, replica)
    app = create_app(suite_settings(f"sqlite:///{primary}", instance_path=str(tmp_path / "two"),
                                    read_database_url=f"sqlite:///{replica}"), TESTING=True)
    client = app.test_client()
    third = str(uuid.uuid4())
    assert put_entry(client, auth, entry_id=third).get_json()["code"] == "INV-00003-F1"
    yield app, client, auth, (primary, replica), third
    with app.app_context():
        db.engine.dispose()
        read_engine().dispose()


def test_the_entries_list_comes_from_the_replica(lagging):
    _, client, auth, _, _ = lagging
    listed = client.get(f"{API}/series/{SALES}/entries", headers=auth).get_json()["list"]
    assert [entry["code"] for entry in listed] == ["INV-00002-F1", "INV-00001-F1"]  # lags one


def test_what_a_client_reads_back_after_writing_comes_from_the_primary(lagging):
    _, client, auth, _, third = lagging
    entry = client.get(f"{API}/series/{SALES}/entries/{third}", headers=auth)
    assert entry.status_code == 200 and entry.get_json()["code"] == "INV-00003-F1"
    assert client.get(f"{API}/series/{SALES}", headers=auth).status_code == 200


def test_verify_reads_the_replica_and_stores_its_checkpoint_on_the_primary(lagging):
    _, client, auth, (primary, replica), _ = lagging
    answer = client.get(f"{API}/series/{SALES}/verify", headers=auth)
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["valid"] is True
    assert answer.get_json()["last_number"] == 2  # what the replica has
    count = "SELECT number FROM verification_checkpoints"
    with sqlite3.connect(primary) as on_primary, sqlite3.connect(replica) as on_replica:
        assert on_primary.execute(count).fetchall() == [(2,)]
        assert on_replica.execute(count).fetchall() == []


def test_the_keys_come_from_the_replica_and_are_the_primarys(lagging):
    _, client, _, (primary, _), _ = lagging
    published = client.get(f"{API}/keys").get_json()["keys"]
    with sqlite3.connect(primary) as on_primary:
        stored = on_primary.execute("SELECT count(*) FROM signing_keys").fetchone()[0]
    assert len(published) == stored >= 1


def test_export_reads_the_replica(lagging, tmp_path):
    app, _, _, _, _ = lagging
    output = tmp_path / "export.jsonl"
    result = app.test_cli_runner().invoke(args=["export", "acme-es", "--output", str(output)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert sorted(row["number"] for row in rows if row["type"] == "entry") == [1, 2]


def test_without_the_setting_every_read_is_the_primarys(app):
    assert read_engine(app) is None


def test_readyz_shows_the_replica_and_warns_when_it_is_gone(lagging, tmp_path, monkeypatch):
    app, client, _, _, _ = lagging
    check = client.get("/readyz").get_json()["checks"]["replica:responseTime"][0]
    assert check["status"] == "pass"
    gone = create_engine(f"sqlite:///{tmp_path}/no-such-folder/replica.sqlite3")
    monkeypatch.setitem(app.extensions, ENGINE, gone)
    answer = client.get("/readyz")
    assert answer.status_code == 200  # ready: numbering does not need the replica
    check = answer.get_json()["checks"]["replica:responseTime"][0]
    assert check["status"] == "warn" and check["output"]
