"""Registration with the Tax Authority: codes committed as they come, one registration
of a sequence at a time (the lease), a dead worker's taken over, concurrent creations."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from invx import create_app
from invx.extensions import db
from invx.models import Sequence, Series, utcnow
from invx.tax_authority.base import UnavailableError

from ..support.invoicexpress import create
from ..support.registration import (
    AT_TYPES,
    register,
    sandbox_rows,
    unregister,
)
from ..support.scripted_at import Crash, ScriptedTaxAuthority, registrations, wait_for_call
from ..support.settings import suite_settings


def test_every_code_is_committed_before_anything_else_happens(app, client, scripted):
    """When a failure makes invx annul what it registered, every code it had received is
    already committed: a crash at that point would lose none."""
    committed_at_annulment = []

    def committed_codes():
        # A separate connection sees only what is committed; on SQLite it could not even
        # begin if the request held a transaction while AT works.
        with app.app_context(), db.engine.connect() as connection:
            return set(connection.execute(text(
                "SELECT validation_code FROM series WHERE validation_code IS NOT NULL"))
                .scalars())

    real_annul = ScriptedTaxAuthority.annul_series

    def annul_and_look(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        committed_at_annulment.append((validation_code, committed_codes()))
        return real_annul(self, serie, doc_class, doc_type, validation_code, reason)

    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ScriptedTaxAuthority, "annul_series", annul_and_look)
        assert create(client, scripted).get_json()["code"] == "000"
    received = {row.validation_code for row in sandbox_rows(app)}
    assert received and len(committed_at_annulment) == len(received)
    for code, committed in committed_at_annulment:
        assert code in committed
        assert received <= committed


def test_after_a_failure_no_further_type_is_sent(app, client, scripted, settings):
    settings(at_concurrency=1)
    ScriptedTaxAuthority.failures = {"FS": UnavailableError("Erro Técnico Inespecífico", 5000)}
    create(client, scripted)
    assert [c[1] for c in registrations()] == ["FT", "FR", "FS"]


def test_a_registration_in_progress_is_409_006_from_another_app_instance(
        app, client, scripted, database_url):
    """The in-progress state is in the database: a second app (as a second gunicorn
    worker would be, with its own engine and memory) sees it."""
    other = create_app(suite_settings(database_url), TESTING=True)
    other_client = other.test_client()
    ScriptedTaxAuthority.gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(create, client, scripted, "2026")
        wait_for_call()
        response = create(other_client, scripted, "2026")
        assert response.status_code == 409
        assert response.get_json() == {
            "code": "006", "message": "The sequence is already being registered."}
        assert create(other_client, scripted, "2026".lower()).status_code == 409
        ScriptedTaxAuthority.gate.set()
        assert first.result().status_code == 201
    assert create(other_client, scripted, "2026").get_json()["code"] == "002"


def test_register_in_progress_is_409_006_wrapped(app, client, scripted, database_url):
    other_client = create_app(suite_settings(database_url)).test_client()
    sequence_id = create(client, scripted).get_json()["sequence"]["id"]
    unregister(app, sequence_id, "quote")
    ScriptedTaxAuthority.gate = threading.Event()
    ScriptedTaxAuthority.calls = []
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(register, client, scripted, sequence_id)
        wait_for_call()
        response = register(other_client, scripted, sequence_id)
        assert response.status_code == 409
        assert response.get_json() == {
            "errors": {"code": "006", "message": "The sequence is already being registered."}}
        ScriptedTaxAuthority.gate.set()
        assert first.result().status_code == 200


def test_a_creation_whose_worker_died_is_resumed_without_registering_anything_twice(
        app, client, scripted, monkeypatch):
    from invx.registration import workflow
    real_store, stored = workflow._store, []

    def die_at_the_third_code(series_id, **values):
        if values.get("at_status") == Series.REGISTERED:
            stored.append(series_id)
            if len(stored) == 3:
                raise Crash()  # the worker dies: AT has this code, invx never learns it
        real_store(series_id, **values)

    monkeypatch.setattr(workflow, "_store", die_at_the_third_code)
    with pytest.raises(Crash):
        create(client, scripted)
    monkeypatch.setattr(workflow, "_store", real_store)
    with app.app_context():
        sequence = db.session.scalar(select(Sequence))
        assert sequence.state == Sequence.CREATING
        held = {s.doc_type for s in sequence.series if s.validation_code}
    assert len(held) == 2
    at_codes = {row.doc_type: row.validation_code for row in sandbox_rows(app)}
    assert len(at_codes) > 2  # more reached AT than invx stored
    # Not visible, and refused while the dead worker's lease runs.
    assert client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"] == []
    assert create(client, scripted).get_json()["code"] == "006"

    with app.app_context():
        db.session.execute(update(Sequence).values(lease_expires_at=utcnow() - timedelta(1)))
        db.session.commit()
    response = create(client, scripted)
    assert response.status_code == 201
    sequence = response.get_json()["sequence"]
    final = {row.doc_type: row.validation_code for row in sandbox_rows(app)}
    assert len(final) == 11 and all(row.state == "A" for row in sandbox_rows(app))
    for name, at_type in (("invoice", "FT"), ("invoice_receipt", "FR"), ("quote", "OR")):
        assert sequence[f"current_{name}_validation_code"] == final[at_type]
    for at_type, code in at_codes.items():
        assert final[at_type] == code  # adopted, not registered again
    assert all(len(registrations(t)) == 1 for t in AT_TYPES), ScriptedTaxAuthority.calls
    assert sequence["default_sequence"] == 1


def test_concurrent_creations_of_one_serie_yield_exactly_one_sequence(app, client, scripted):
    ScriptedTaxAuthority.on_register = lambda registration: time.sleep(0.005)
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: create(client, scripted, "2026"), range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 1
    assert all(r.get_json()["code"] in ("002", "006") for r in responses if r.status_code != 201)
    assert len(client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"]) == 1


def test_concurrent_first_sequences_leave_exactly_one_default(client, key):
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda n: create(client, key, f"S{n}"), range(6)))
    assert all(r.status_code == 201 for r in responses)
    sequences = client.get(f"/sequences.json?api_key={key}").get_json()["sequences"]
    assert sum(s["default_sequence"] for s in sequences) == 1
