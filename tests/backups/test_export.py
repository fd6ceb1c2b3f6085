"""``invx export``: an account as JSON lines, every kind of row, never a secret, streamed."""
import json
import sys
import time
import tracemalloc
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event, func, insert, select, update

from invx.backups import export as export_module
from invx.backups import rows
from invx.extensions import db
from invx.models import Account, AtCall, Entry, Series, SigningKey

from ..support.cli import set_at
from ..support.fake_at import PASSWORD
from ..support.sequence_service import SALES, put_entry, put_series

LEASE = timedelta(minutes=2)


@pytest.fixture
def invx(app):
    runner = app.test_cli_runner()
    return lambda *args, input=None: runner.invoke(args=list(map(str, args)), input=input)


@pytest.fixture
def numbered(client, key):
    """acme's InvoiceXpress sequence (its types registered with the sandbox) with three
    invoices; returns the invoice sub-series' integer id."""
    response = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2026"}})
    invoices = response.get_json()["sequence"]["current_invoice_sequence_id"]
    for _ in range(3):
        assert put_entry(client, {"Authorization": f"Bearer {key}"},
                         series=str(invoices)).status_code == 200
    return invoices


def lines(result):
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_every_row_has_its_type_in_the_documented_order(app, invx, numbered, es_key, client):
    auth = {"Authorization": f"Bearer {es_key}"}
    put_series(client, auth)
    put_entry(client, auth)  # another account's: not in acme's export
    exported = lines(invx("export", "acme"))
    kinds = [row["type"] for row in exported]
    assert kinds[:2] == ["account", "sequence"]
    assert kinds.count("series") == 15 and kinds.count("entry") == 3
    at_calls = kinds.index("at_call")
    assert set(kinds[2:at_calls]) == {"series", "entry"}
    assert set(kinds[at_calls:]) == {"at_call", "signing_key"}
    with app.app_context():
        assert kinds.count("at_call") == db.session.scalar(select(func.count(AtCall.id)))
    invoices = next(row for row in exported if row.get("number_id") == numbered)
    entries = [row for row in exported if row["type"] == "entry"]
    assert kinds.index("entry") == exported.index(invoices) + 1  # a series, then its own
    assert [entry["number"] for entry in entries] == [1, 2, 3]
    assert all(entry["series_id"] == invoices["id"] for entry in entries)
    assert entries[0]["atcud"] == f"{invoices['validation_code']}-1"
    assert entries[1]["previous_id"] == entries[0]["id"]
    assert exported[1]["default"] is True and invoices["sequence_id"] == exported[1]["id"]


def test_the_export_holds_no_secret(app, invx, numbered, fake_at, tmp_path):
    key_file = tmp_path / "at-public.pem"
    key_file.write_text(fake_at.public_key_pem)
    assert set_at(invx, key_file, fake=fake_at).exit_code == 0
    output = invx("export", "acme").stdout
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.name == "acme"))
        sealed = [account.api_key_hash, account.tax_authority_config["password"],
                  *db.session.scalars(select(SigningKey.private_key))]
    for secret in [PASSWORD, *sealed]:
        assert secret not in output
    assert "gAAAA" not in output and "PRIVATE KEY" not in output  # no Fernet token, no PEM
    settings = json.loads(output.splitlines()[0])["tax_authority_settings"]
    assert set(settings) == set(rows.PUBLIC_AT_SETTINGS)


def test_an_unknown_account_is_one_line_and_exit_2(invx):
    result = invx("export", "nobody")
    assert result.exit_code == 2
    assert result.output == "Error: no account named 'nobody'\n"


def test_a_file_is_written_whole_and_kept_unless_force(invx, numbered, tmp_path):
    target = tmp_path / "acme.jsonl"
    result = invx("export", "acme", "--output", target)
    assert result.exit_code == 0, result.output
    written = target.read_text().splitlines()
    assert result.stderr == f"exported {len(written)} rows of acme to {target}\n"
    refused = invx("export", "acme", "-o", target)
    assert refused.exit_code == 1 and "--force" in refused.output
    assert invx("export", "acme", "-o", target, "--force").exit_code == 0


def test_a_failed_export_leaves_no_file(invx, numbered, tmp_path, monkeypatch):
    def broken(series, entry):
        raise RuntimeError("made to fail")

    monkeypatch.setattr(rows, "entry_row", broken)
    result = invx("export", "acme", "-o", tmp_path / "acme.jsonl")
    assert result.exit_code != 0
    assert list(tmp_path.iterdir()) == []


def test_a_bar_is_shown_on_a_terminal(invx, numbered, monkeypatch):
    monkeypatch.setattr(sys.modules["invx.commands.backup"], "on_a_terminal", lambda: True)
    monkeypatch.setattr(export_module, "PROGRESS_EVERY", 2)
    result = invx("export", "acme")
    assert result.exit_code == 0 and "exporting" in result.stderr


def _with_entries(app, count):
    """``SALES`` of acme-es with ``count`` entries, inserted behind the API's back."""
    with app.app_context():
        series = db.session.scalar(select(Series).where(Series.id == SALES))
        start = series.last_number
        db.session.execute(insert(Entry), [
            {"id": str(uuid.uuid4()), "series_id": SALES, "account_id": series.account_id,
             "number": start + n, "code": f"INV-{start + n}", "sig": "s" * 200,
             "request_hash": "0" * 64} for n in range(1, count + 1)])
        db.session.execute(update(Series).where(Series.id == SALES)
                           .values(last_number=start + count))
        db.session.commit()


def _peak_memory(app, count):
    _with_entries(app, count)
    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.name == "acme-es"))
        tracemalloc.start()
        with export_module.snapshot(db.engine) as session:
            written = export_module.export_account(session, account_id, len, LEASE)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return written, peak


def test_entries_are_streamed_in_constant_memory(app, client, es_key, monkeypatch):
    monkeypatch.setattr(export_module, "YIELD_PER", 100)
    put_series(client, {"Authorization": f"Bearer {es_key}"})
    small = _peak_memory(app, 300)  # three batches: a batch's worth at most
    large = _peak_memory(app, 3000)
    assert large[0] == small[0] + 3000
    assert large[1] < 1.5 * small[1], f"{large[1]} bytes for 11 times {small[1]}"


def test_entries_are_read_through_a_server_side_cursor_on_postgresql(app, client, es_key):
    put_series(client, {"Authorization": f"Bearer {es_key}"})
    _with_entries(app, 3)
    streamed = []
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite reads rows one step at a time anyway")

        def note(connection, cursor, statement, parameters, context, executemany):
            if "FROM entries" in statement:
                streamed.append(getattr(cursor, "name", None) is not None)

        event.listen(db.engine, "before_cursor_execute", note)
        try:
            account_id = db.session.scalar(select(Account.id).where(Account.name == "acme-es"))
            with export_module.snapshot(db.engine) as session:
                export_module.export_account(session, account_id, len, LEASE)
        finally:
            event.remove(db.engine, "before_cursor_execute", note)
    assert streamed == [True]


def test_the_export_is_one_snapshot_that_keeps_no_writer_waiting(app, client, es_key):
    """An entry issued once the export has begun answers at once (on SQLite the export
    takes no write lock) and is not in it (every line is of the same moment)."""
    auth = {"Authorization": f"Bearer {es_key}"}
    put_series(client, auth)
    first = put_entry(client, auth).get_json()["id"]
    issued, written = [], []

    def write(line):
        written.append(json.loads(line))
        if not issued:
            started = time.monotonic()
            response = put_entry(client, auth)
            issued.append((response.status_code, time.monotonic() - started,
                           response.get_json()["id"]))

    with app.app_context():
        account_id = db.session.scalar(select(Account.id).where(Account.name == "acme-es"))
        with export_module.snapshot(db.engine) as session:
            export_module.export_account(session, account_id, write, LEASE)
    status, seconds, later = issued[0]
    assert status == 200 and seconds < 5
    entries = [row["id"] for row in written if row["type"] == "entry"]
    assert entries == [first] and later not in entries
    assert next(row for row in written if row["type"] == "series")["last_number"] == 1
