"""Registrations a killed worker left: resumed by ``register.json``, by ``invx
registrations resume`` and by any worker serving requests, each recording the codes AT gave
the dead worker (asked with consultarSeries) without registering anything twice; the
killed worker's calls stay in the audit log, shown as interrupted."""
import json
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from invx import RESUME_CHECK, create_app
from invx.extensions import db
from invx.models import AtCall, Sequence, Series, utcnow
from invx.registration import workflow
from invx.registration.resume import PeriodicCheck, interrupted, resume_one
from invx.tax_authority.audit import AuditedTaxAuthority
from invx.tax_authority.base import UnavailableError

from ..support.fake_at import at_codes as fake_at_codes
from ..support.fake_at import registrations as fake_registrations
from ..support.invoicexpress import create, listed
from ..support.registration import AT_TYPES, register, sandbox_rows, unregister
from ..support.scripted_at import Crash, ScriptedTaxAuthority, registrations
from ..support.settings import suite_settings

TYPES = {"invoice": "FT", "invoice_receipt": "FR", "simplified_invoice": "FS",
         "credit_note": "NC", "debit_note": "ND", "receipt": "RG", "shipping": "GR",
         "transport": "GT", "devolution": "GD", "proforma": "PF", "quote": "OR"}


def post_and_die(client, key, monkeypatch):
    """A POST whose worker is killed after AT gave it some codes: it stores only the first
    two, completes none of its audit records, and leaves its lease running."""
    real_store, stored = workflow._store, []

    def die_at_the_third_code(series_id, **values):
        if values.get("at_status") == Series.REGISTERED:
            stored.append(series_id)
            if len(stored) == 3:
                raise Crash()
        real_store(series_id, **values)

    with monkeypatch.context() as patch:
        patch.setattr(workflow, "_store", die_at_the_third_code)
        # A killed process completes nothing: its records stay as written before each call.
        patch.setattr(AuditedTaxAuthority, "_complete", lambda self, call_id, row: None)
        with pytest.raises(Crash):
            create(client, key)


@pytest.fixture
def killed(app, client, scripted, monkeypatch):
    """A creation on the scripted AT whose worker was killed; returns the sequence's id."""
    post_and_die(client, scripted, monkeypatch)
    with app.app_context():
        sequence = db.session.scalar(select(Sequence))
        assert sequence.state == Sequence.CREATING
        assert sum(1 for s in sequence.series if s.validation_code) == 2
        sequence_id = sequence.id
    assert len(at_codes(app)) > 2  # AT holds codes invx did not record
    return sequence_id


def expire_leases(app):
    with app.app_context():
        db.session.execute(update(Sequence).values(lease_expires_at=utcnow() - timedelta(1)))
        db.session.commit()


def at_codes(app):
    return {row.doc_type: row.validation_code for row in sandbox_rows(app)}


def assert_resumed(app, sequence):
    """Every type has the code AT holds, each registered once: what the dead worker got
    was adopted, not sent again."""
    final = at_codes(app)
    assert len(final) == 11 and all(row.state == "A" for row in sandbox_rows(app))
    for name, at_type in TYPES.items():
        assert sequence[f"current_{name}_validation_code"] == final[at_type]
    assert all(len(registrations(t)) == 1 for t in AT_TYPES), ScriptedTaxAuthority.calls


def run_cli(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


def test_register_json_resumes_a_creation_a_killed_post_left(app, client, scripted, killed):
    assert register(client, scripted, killed).get_json()["errors"]["code"] == "006"  # leased
    expire_leases(app)
    response = register(client, scripted, killed)
    assert response.status_code == 200
    (sequence,) = response.get_json()["sequences"]
    assert sequence["id"] == killed and sequence["default_sequence"] == 1
    assert_resumed(app, sequence)
    assert listed(client, scripted) == [sequence]


def test_the_resume_command_records_the_codes_a_killed_worker_left(
        app, client, scripted, killed):
    result = run_cli(app, "registrations", "resume")
    assert result.exit_code == 0
    assert result.output.splitlines() == [
        "0 interrupted registration(s) found",
        "0 interrupted registration(s): 0 resumed, 0 failed, 0 skipped"]  # the lease runs

    expire_leases(app)
    with app.app_context():
        stored_by_the_dead = set(db.session.scalars(select(Series.validation_code).where(
            Series.validation_code.is_not(None))))
    result = run_cli(app, "registrations", "resume")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "1 interrupted registration(s) found"
    assert lines[1] == (f"acme 2026 (sequence {killed}): resumed: creation completed: 11 "
                        "types registered, 9 of them recorded now")
    assert lines[2] == "1 interrupted registration(s): 1 resumed, 0 failed, 0 skipped"
    (sequence,) = listed(client, scripted)
    assert_resumed(app, sequence)
    # Every code the dead worker did not store is now in a completed audit record: asked
    # of AT (consultarSeries) for the types it had sent, registered for the others.
    with app.app_context():
        answered = set(db.session.scalars(select(AtCall.validation_code).where(
            AtCall.outcome == "ok")))
    assert set(at_codes(app).values()) - answered == stored_by_the_dead
    assert any(call[0] == "query" for call in ScriptedTaxAuthority.calls)


def test_the_killed_workers_calls_show_as_interrupted_in_the_at_log(app, killed):
    def outcomes():
        rows = [json.loads(line) for line in run_cli(app, "at-log", "acme", "--json").output
                .splitlines()]
        return {row["outcome"] for row in rows if row["operation"] == "registarSerie"}

    assert outcomes() == {"pending"}  # the lease runs: the calls may still be under way
    with app.app_context():
        db.session.execute(update(AtCall).values(created_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert outcomes() == {"interrupted"}
    assert "interrupted" in run_cli(app, "at-log", "acme").output


def test_a_worker_serving_requests_resumes_it_without_the_client(
        app, client, scripted, killed, database_url):
    other = create_app(suite_settings(database_url, resume_check_seconds=60), TESTING=True)
    expire_leases(app)
    other.test_client().get(f"/sequences.json?api_key={scripted}")  # starts the check
    deadline = time.monotonic() + 10
    while not listed(client, scripted):
        assert time.monotonic() < deadline, "the interrupted creation was not resumed"
        time.sleep(0.05)
    other.extensions[RESUME_CHECK].wait(10)
    (sequence,) = listed(client, scripted)
    assert_resumed(app, sequence)
    with other.app_context():
        db.engine.dispose()


def test_a_resume_that_fails_says_so_and_exits_non_zero(app, client, scripted, killed):
    expire_leases(app)
    ScriptedTaxAuthority.query_failures = set(AT_TYPES)
    ScriptedTaxAuthority.failures = dict.fromkeys(
        AT_TYPES, UnavailableError("Erro Técnico Inespecífico", 5000))
    result = run_cli(app, "registrations", "resume", "--account", "acme")
    assert result.exit_code == 1
    assert "failed: registration failed:" in result.output
    assert result.output.splitlines()[-1] == (
        "1 interrupted registration(s): 0 resumed, 1 failed, 0 skipped")
    # AT could not say what it holds: the sequence stays, for a later attempt.
    ScriptedTaxAuthority.query_failures, ScriptedTaxAuthority.failures = set(), {}
    (partial,) = listed(client, scripted)
    response = register(client, scripted, partial["id"])
    assert response.status_code == 200
    assert_resumed(app, response.get_json()["sequences"][0])


def test_the_resume_command_knows_no_unknown_account(app):
    result = run_cli(app, "registrations", "resume", "--account", "nobody")
    assert result.exit_code != 0 and "no account" in result.output


def test_the_periodic_check_runs_at_most_once_per_interval_and_never_twice_at_once():
    started, release = [], threading.Event()

    def run():
        started.append(time.monotonic())
        assert release.wait(10)

    check = PeriodicCheck(0.2, run)
    for _ in range(20):
        check.poke()  # many requests at once: one check
    time.sleep(0.3)
    check.poke()  # due again, but the first is still running
    assert len(started) == 1
    release.set()
    check.wait(5)
    check.poke()
    check.wait(5)
    assert len(started) == 2


def test_a_gunicorn_worker_resumes_it_on_its_first_request(
        app, client, at_key, fake_at, live_server, monkeypatch):
    """gthread on SQLite, gevent on PostgreSQL: the check's thread works in either."""
    post_and_die(client, at_key, monkeypatch)
    assert len(fake_at_codes(fake_at)) > 2 and listed(client, at_key) == []
    expire_leases(app)
    live_server(workers=1, INVX_RESUME_CHECK_SECONDS=60)  # its readiness probe is a request
    deadline = time.monotonic() + 20
    while not listed(client, at_key):
        assert time.monotonic() < deadline, "the interrupted creation was not resumed"
        time.sleep(0.1)
    (sequence,) = listed(client, at_key)
    issued = fake_at_codes(fake_at)
    for name, at_type in TYPES.items():
        assert sequence[f"current_{name}_validation_code"] == issued[at_type]
    assert all(count == 1 for count in Counter(fake_registrations(fake_at)).values())


def test_no_check_runs_when_its_interval_is_zero(app, database_url):
    assert RESUME_CHECK not in app.extensions  # the suite's settings: 0
    other = create_app(suite_settings(database_url, resume_check_seconds=5))
    assert other.extensions[RESUME_CHECK].seconds == 5


def test_a_sequence_completed_after_it_was_listed_is_left_alone(
        app, client, scripted, killed, settings):
    expire_leases(app)
    with app.app_context():
        (pk,) = interrupted()
    assert create(client, scripted).status_code == 201  # the client's retry resumed it
    unregister(app, killed, "quote")  # a type left N/D, for register.json to send
    calls = list(ScriptedTaxAuthority.calls)
    with app.app_context():
        result = resume_one(pk, settings())
    assert result.status == "skipped"
    assert ScriptedTaxAuthority.calls == calls  # nothing sent that no one asked for
