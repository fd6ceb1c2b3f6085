"""Backups and exports under test: an instance of their own with accounts, sequences and
entries, a thread that keeps issuing entries, and ``invx verify`` of every series."""
import json
import threading
import uuid

import flask_migrate
from sqlalchemy import select

from invx import create_app
from invx.accounts import create_account
from invx.extensions import db
from invx.models import Account, Entry, Series

from .sequence_service import API, SALES, put_entry, put_series
from .settings import suite_settings

OTHER_SERIES = "9b2f1d0e-6c1a-4a57-9d43-2f6f0c4f5e11"


def migrated_app(database_url, instance_path):
    """A fresh app on ``database_url``, migrated; dispose of its engine when done."""
    app = create_app(suite_settings(database_url, instance_path=str(instance_path)),
                     TESTING=True)
    with app.app_context():
        flask_migrate.upgrade()
    return app


def populate(app, entries=4):
    """Two accounts: ``acme`` (PT, sandbox) with an InvoiceXpress sequence whose types are
    registered, and ``acme-es`` with two Sequence Service series; ``entries`` entries in
    each numbered series. Returns where a writer may issue more: [(headers, series ref)]."""
    with app.app_context():
        _, pt_key = create_account("acme", "PT", "123456789", None, "sandbox")
        _, es_key = create_account("acme-es", "ES", "B12345678", None, "none")
    client = app.test_client()
    response = client.post(f"/sequences.json?api_key={pt_key}",
                           json={"sequence": {"serie": "2026"}})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    invoices = str(response.get_json()["sequence"]["current_invoice_sequence_id"])
    pt, es = _bearer(pt_key), _bearer(es_key)
    for series_id in (SALES, OTHER_SERIES):
        response = put_series(client, es, series_id)
        assert response.status_code in (200, 201), response.get_data(as_text=True)
    targets = [(pt, invoices), (es, SALES), (es, OTHER_SERIES)]
    for headers, ref in targets:
        for _ in range(entries):
            assert put_entry(client, headers, series=ref).status_code == 200
    return targets


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


class EntryWriter(threading.Thread):
    """Issues entries round the ``targets`` until stopped (at most ``limit``); ``acked``
    holds the ids the server answered 200 for, in order."""

    def __init__(self, app, targets, limit=2000):
        super().__init__(daemon=True)
        self.app, self.targets, self.limit = app, targets, limit
        self.acked, self.failures = [], []
        self.stopped = threading.Event()
        self.progressed = threading.Condition()

    def run(self):
        client = self.app.test_client()
        while not self.stopped.is_set() and len(self.acked) < self.limit:
            headers, ref = self.targets[len(self.acked) % len(self.targets)]
            entry_id = str(uuid.uuid4())
            response = client.put(f"{API}/series/{ref}/entries/{entry_id}", headers=headers)
            if response.status_code != 200:
                self.failures.append(response.status_code)
                return
            with self.progressed:
                self.acked.append(entry_id)
                self.progressed.notify_all()

    def wait_for_more(self, seen, timeout=5):
        """Wait until more than ``seen`` entries are acknowledged (or the writer ended)."""
        with self.progressed:
            self.progressed.wait_for(lambda: len(self.acked) > seen or not self.is_alive(),
                                     timeout)

    def stop(self):
        self.stopped.set()
        self.join(timeout=30)
        assert not self.is_alive(), "the writer did not stop"
        assert self.failures == [], f"the writer got {self.failures}"


def verify_every_series(app):
    """``invx verify`` of every series of every account; returns {series id: report}."""
    with app.app_context():
        series = db.session.execute(
            select(Series.id, Series.number_id, Series.account_id)).all()
        names = dict(db.session.execute(select(Account.id, Account.name)).all())
    runner, reports = app.test_cli_runner(), {}
    for row in series:
        ref = str(row.number_id) if row.number_id is not None else row.id
        result = runner.invoke(args=["verify", names[row.account_id], ref, "--no-progress"])
        assert result.exit_code == 0, f"{ref}: {result.output}"
        reports[row.id] = json.loads(result.stdout)
        assert reports[row.id]["valid"] is True
    return reports


def entry_ids(app):
    with app.app_context():
        return set(db.session.scalars(select(Entry.id)))
