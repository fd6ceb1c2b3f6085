"""invx with the ``at`` adapter, over HTTP, against the local AT server (invx fake-at)."""
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select, update

from invx.extensions import db
from invx.models import AtCall, Sequence, Series, utcnow

from ..support.fake_at import PASSWORD, at_codes, at_states, point_at, registrations
from ..support.invoicexpress import create, listed
from ..support.settings import TEST_SECRET as SECRET

TYPES = {"invoice": "FT", "invoice_receipt": "FR", "simplified_invoice": "FS",
         "credit_note": "NC", "debit_note": "ND", "receipt": "RG", "shipping": "GR",
         "transport": "GT", "devolution": "GD", "proforma": "PF", "quote": "OR"}


def test_a_sequence_gets_the_codes_the_tax_authority_issued(app, client, at_key, fake_at):
    response = create(client, at_key)
    assert response.status_code == 201
    sequence = response.get_json()["sequence"]
    issued = at_codes(fake_at, "A")
    assert len(issued) == 11
    for name, at_type in TYPES.items():
        assert sequence[f"current_{name}_validation_code"] == issued[at_type]
    assert sequence["current_fees_note_validation_code"] == "N/A"
    assert sorted(registrations(fake_at)) == sorted(("2026", t) for t in TYPES.values())
    series = fake_at.fake.series()[0]
    assert (series["numInicialSeq"], series["meioProcessamento"], series["numCertSWFatur"],
            series["tipoSerie"]) == ("1", "PI", "0", "N")


def test_every_call_is_audited_without_credentials(app, client, at_key, fake_at):
    create(client, at_key)
    with app.app_context():
        calls = db.session.scalars(select(AtCall)).all()
        rows = [json.dumps({c.name: str(getattr(call, c.name)) for c in AtCall.__table__.c})
                for call in calls]
    assert len(calls) == 11
    assert {(c.operation, c.outcome, c.result_code, c.adapter) for c in calls} == {
        ("registarSerie", "ok", 2001, "at")}
    assert {c.validation_code for c in calls} == set(at_codes(fake_at).values())
    assert all(PASSWORD not in row for row in rows)


def test_eleven_types_at_300_ms_take_about_one_round_trip_not_eleven(client, at_key, fake_at):
    fake_at.fake.configure(latency=0.3)
    started = time.monotonic()
    assert create(client, at_key).status_code == 201
    # Sequentially this is 11 x 0.3 = 3.3 s; concurrently (6 at a time) two rounds.
    assert time.monotonic() - started < 11 * 0.3 / 2


@pytest.mark.parametrize("behaviour, code", [
    ({"result_by_type": {"FT": 4001}}, "002"),
    ({"result_by_type": {"FT": 4000}}, "003"),
    ({"result_by_type": {"FT": 4002}}, "003"),
    ({"result_by_type": {"FT": 4003}}, "003"),
    ({"result_by_type": {"FT": 4043}}, "005"),
    ({"result_by_type": {"FT": 5000}}, "000"),
    ({"fault_by_type": {"FT": True}}, "000"),
    ({"garbage_by_type": {"FT": True}}, "000"),
    ({"drop_by_type": {"FT": True}}, "000"),
], ids=["4001", "4000", "4002", "4003", "4043", "5000", "fault", "garbage", "drop"])
def test_each_at_failure_reaches_the_client_as_its_code(client, at_key, fake_at, behaviour,
                                                        code):
    fake_at.fake.configure(**behaviour)
    response = create(client, at_key)
    assert response.status_code == 422
    assert response.get_json()["code"] == code
    # All or nothing: whatever was registered in the attempt was annulled again.
    assert "A" not in at_states(fake_at).values()


def test_a_nif_without_activity_is_005(client, at_key, fake_at):
    fake_at.fake.configure(no_activity=["123456789"])
    assert create(client, at_key).get_json() == {
        "code": "005", "message": "Account fiscal ID doesn't have open activity in Tax Authority."}


def test_a_wrong_password_is_004(app, client, at_key, fake_at):
    point_at(app, fake_at, password="not-the-password")
    assert create(client, at_key).get_json() == {
        "code": "004", "message": "Invalid Tax Authority credentials."}
    assert listed(client, at_key) == []


def test_a_tax_authority_that_does_not_answer_in_time_is_000(app, client, at_key, fake_at,
                                                            settings):
    settings(at_read_timeout=0.3)
    fake_at.fake.configure(latency_by_type={"FT": 1.0})
    assert create(client, at_key).get_json()["code"] == "000"


def test_an_unreachable_tax_authority_is_000(app, client, at_key, fake_at):
    fake_at.stop()
    assert create(client, at_key).get_json()["code"] == "000"


def test_partial_failure_is_compensated_and_the_sequence_removed(app, client, at_key, fake_at):
    fake_at.fake.configure(result_by_type={"NC": 5000})
    assert create(client, at_key).get_json()["code"] == "000"
    states = at_states(fake_at)
    assert states and set(states.values()) == {"N"}
    annulled = [c for c in fake_at.fake.calls() if c["operation"] == "anularSerie"]
    assert {c["tipoDoc"] for c in annulled} == set(states)
    assert listed(client, at_key) == []


def test_a_repeated_post_of_a_failed_series_sends_nothing_to_at(client, at_key, fake_at):
    fake_at.fake.configure(result_by_type={"NC": 5000})
    assert create(client, at_key).get_json()["code"] == "000"
    fake_at.fake.configure(result_by_type={})
    calls, states = len(fake_at.fake.calls()), at_states(fake_at)
    assert "N" in states.values()  # AT keeps the annulled types: it never takes them again
    response = create(client, at_key)
    assert response.status_code == 422
    assert response.get_json() == {"code": "002", "message": "Sequence already exists."}
    assert len(fake_at.fake.calls()) == calls
    assert at_states(fake_at) == states


def test_a_failed_annulment_keeps_the_sequence_and_register_completes_it(
        app, client, at_key, fake_at, settings):
    settings(at_concurrency=1)
    fake_at.fake.configure(result_by_type={"NC": 5000}, annul_result_by_type={"FR": 5000})
    assert create(client, at_key).get_json()["code"] == "000"
    (partial,) = listed(client, at_key)
    kept = at_codes(fake_at, "A")
    assert set(kept) == {"FR"}
    assert partial["current_invoice_receipt_validation_code"] == kept["FR"]
    assert partial["current_credit_note_validation_code"] == "N/D"

    fake_at.fake.configure(result_by_type={}, annul_result_by_type={})
    response = client.put(f"/sequences/{partial['id']}/register.json?api_key={at_key}")
    assert response.status_code == 200
    (sequence,) = response.get_json()["sequences"]
    issued = at_codes(fake_at, "A")
    assert sequence["current_credit_note_validation_code"] == issued["NC"]
    assert sequence["current_quote_validation_code"] == issued["OR"]
    assert sequence["current_invoice_receipt_validation_code"] == kept["FR"]
    assert sequence["current_invoice_validation_code"] == "N/D"  # annulled at AT: spent


def test_a_registration_lost_in_a_timeout_is_adopted_later_not_sent_twice(
        app, client, at_key, fake_at, settings):
    settings(at_read_timeout=0.3)
    fake_at.fake.configure(register_then_drop_by_type={"FS": True},
                           result_by_type={"NC": 5000})
    assert create(client, at_key).get_json()["code"] == "000"
    # AT registered FS but invx never heard back: invx asked, found it, annulled it.
    assert at_states(fake_at)["FS"] == "N"
    assert registrations(fake_at).count(("2026", "FS")) == 1


def test_409_while_registering_holds_across_two_gunicorn_workers(
        app, live_server, at_key, fake_at):
    fake_at.fake.configure(latency=1.0)
    # Sync workers (one thread each): the busy one accepts nothing, the other answers.
    server = live_server(workers=2, INVX_THREADS=1, INVX_SECRET_KEY=SECRET)
    url = f"{server.url}/sequences.json?api_key={at_key}"
    body = {"sequence": {"serie": "2026"}}
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(requests.post, url, json=body, timeout=30)
        deadline = time.monotonic() + 20
        while not registrations(fake_at):  # the first registration is talking to AT
            assert time.monotonic() < deadline
            time.sleep(0.02)
        second = requests.post(url, json=body, timeout=30)  # a new connection: worker 2
        assert second.status_code == 409
        assert second.json() == {"code": "006",
                                 "message": "The sequence is already being registered."}
        assert first.result().status_code == 201
    assert registrations(fake_at).count(("2026", "FT")) == 1


def test_a_crash_mid_registration_is_resumed_without_a_duplicate_registration(
        app, live_server, at_key, fake_at):
    slow = dict.fromkeys(("GR", "GT", "GD", "PF", "OR"), 1.5)
    fake_at.fake.configure(latency_by_type=slow)
    server = live_server(workers=1, INVX_SECRET_KEY=SECRET, INVX_AT_CONCURRENCY=11)
    url = f"{server.url}/sequences.json?api_key={at_key}"
    with ThreadPoolExecutor(1) as pool:
        pool.submit(requests.post, url, json={"sequence": {"serie": "2026"}}, timeout=30)
        deadline = time.monotonic() + 10
        # The fast types are stored; the slow ones' calls are recorded (pending), so sent.
        while len(stored_codes(app)) < 6 or len(registered_calls(app)) < 11:
            assert time.monotonic() < deadline, "the registration did not progress"
            time.sleep(0.05)
        time.sleep(0.3)  # the slow requests, recorded, are on the wire (AT takes 1.5 s)
        server.crash()
    # The requests in flight complete at AT all the same: wait until AT is quiet.
    held, quiet_since, deadline = -1, time.monotonic(), time.monotonic() + 20
    while time.monotonic() - quiet_since < 3.0:  # longer than any latency in flight
        assert time.monotonic() < deadline, "AT never settled"
        if len(at_codes(fake_at, "A")) != held:
            held, quiet_since = len(at_codes(fake_at, "A")), time.monotonic()
        time.sleep(0.05)
    assert held == 11
    assert len(stored_codes(app)) < 11  # AT holds codes invx never saw
    # ... but every call the killed worker made is in the audit log: the unanswered ones
    # as pending, since their outcome was never seen.
    outcomes = registered_calls(app)
    assert sorted(outcomes) == sorted(TYPES.values())
    assert {outcomes[t] for t in slow} == {"pending"}

    # The POST itself resumes it here (test_resume shows a worker doing it unasked).
    restarted = live_server(workers=1, INVX_SECRET_KEY=SECRET, INVX_RESUME_CHECK_SECONDS=0)
    url = f"{restarted.url}/sequences.json?api_key={at_key}"
    body = {"sequence": {"serie": "2026"}}
    assert requests.post(url, json=body, timeout=30).json()["code"] == "006"  # lease held
    with app.app_context():
        db.session.execute(update(Sequence).values(lease_expires_at=utcnow()))
        db.session.commit()
    response = requests.post(url, json=body, timeout=30)
    assert response.status_code == 201
    sequence = response.json()["sequence"]
    issued = at_codes(fake_at, "A")
    for name, at_type in TYPES.items():
        assert sequence[f"current_{name}_validation_code"] == issued[at_type]
    for at_type in TYPES.values():
        assert registrations(fake_at).count(("2026", at_type)) == 1, at_type


def registered_calls(app):
    """{AT type: outcome} of the registarSerie calls in the audit log."""
    with app.app_context():
        return dict(db.session.execute(select(AtCall.doc_type, AtCall.outcome).where(
            AtCall.operation == "registarSerie")).all())


def stored_codes(app):
    with app.app_context():
        return db.session.scalars(select(Series.validation_code).where(
            Series.validation_code.is_not(None))).all()
