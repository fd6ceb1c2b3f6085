"""Every metric moves when its event happens (one process: prometheus_client's default
registry), and its labels never hold an id, a key or an account."""
import threading
import time
import uuid

import pytest
from prometheus_client import REGISTRY

from invx import instruments
from invx.extensions import db

from .support.sequence_service import API, put_entry, put_series

ENTRY = f"{API}/series/<series_ref>/entries/<entry_id>"


def value(name, **labels):
    """A sample's value now (0 for one not seen yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Watch:
    """The samples named at the start, and by how much each has moved since."""

    def __init__(self, *samples):
        self.samples = samples
        self.before = [value(name, **labels) for name, labels in samples]

    def moved(self):
        return [value(name, **labels) - before
                for (name, labels), before in zip(self.samples, self.before, strict=True)]


def sample(name, **labels):
    return name, labels


@pytest.fixture
def auth(es_key):
    return {"Authorization": f"Bearer {es_key}"}


def test_requests_are_counted_by_url_rule_method_and_status(client, auth):
    series_id = str(uuid.uuid4())
    rule = f"{API}/series/<series_id>"
    watch = Watch(
        sample("invx_http_requests_total", endpoint=rule, method="PUT", status="200"),
        sample("invx_http_request_duration_seconds_count", endpoint=rule, method="PUT"),
        sample("invx_http_requests_total", endpoint="unmatched", method="GET", status="404"),
        sample("invx_http_requests_total", endpoint="unmatched", method="other", status="405"))
    assert put_series(client, auth, series_id, name="Sales").status_code == 200
    assert client.get("/no/such/path").status_code == 404
    assert client.open("/livez", method="BREW").status_code == 405
    assert watch.moved() == [1, 1, 1, 1]
    assert value("invx_http_request_duration_seconds_sum", endpoint=rule, method="PUT") > 0


def test_no_label_holds_an_id_or_a_key(client, auth, es_key):
    series_id = str(uuid.uuid4())
    put_series(client, auth, series_id, name="Sales")
    put_entry(client, auth, series=series_id)
    client.get(f"/sequences.json?api_key={es_key}")
    body, _ = instruments.exposition()
    text = body.decode()
    assert series_id not in text and es_key not in text and "acme" not in text
    assert f'endpoint="{ENTRY}"' in text


def test_a_request_refused_before_any_view_is_counted(client, auth):
    watch = Watch(sample("invx_http_requests_total", endpoint=f"{API}/series/<series_id>",
                         method="PUT", status="413"))
    big = b"x" * (2 * 1024 * 1024)
    response = client.put(f"{API}/series/{uuid.uuid4()}", data=big, headers=auth)
    assert response.status_code == 413
    assert watch.moved() == [1]


def test_a_request_in_progress_is_counted_until_it_is_answered(other_app, auth):
    app = other_app()
    seen = []
    app.before_request(lambda: seen.append(value("invx_http_requests_in_progress")))
    before = value("invx_http_requests_in_progress")
    assert app.test_client().get("/livez").status_code == 200
    assert seen == [before + 1]
    assert value("invx_http_requests_in_progress") == before


def test_entries_and_group_commit_batches_are_counted(client, auth):
    series_id = str(uuid.uuid4())
    put_series(client, auth, series_id, name="Sales")
    watch = Watch(sample("invx_entries_issued_total", api="sequence_service"),
                  sample("invx_group_commit_batch_requests_count"),
                  sample("invx_group_commit_batch_requests_sum"),
                  sample("invx_group_commit_batch_duration_seconds_count"))
    entry_id = str(uuid.uuid4())
    assert put_entry(client, auth, series=series_id, entry_id=entry_id).status_code == 200
    assert put_entry(client, auth, series=series_id).status_code == 200
    # The same request again: a batch, but no new entry.
    assert put_entry(client, auth, series=series_id, entry_id=entry_id).status_code == 200
    assert watch.moved() == [2, 3, 3, 3]
    assert value("invx_group_commit_batch_duration_seconds_sum") > 0


def test_a_batch_of_concurrent_requests_is_one_observation_of_its_size(
        app, client, auth, monkeypatch):
    from invx.sequence_service import group_commit, store

    series_id = str(uuid.uuid4())
    put_series(client, auth, series_id, name="Sales")
    watch = Watch(sample("invx_group_commit_batch_requests_count"),
                  sample("invx_group_commit_batch_requests_sum"),
                  sample("invx_group_commit_batch_requests_bucket", le="4.0"),
                  sample("invx_group_commit_batch_requests_bucket", le="2.0"))
    real_open, opened = store.open_store, []

    def open_store():
        """The leader's transaction begins once all four requests are queued."""
        deadline = time.monotonic() + 10
        while not opened and time.monotonic() < deadline and sum(
                len(batcher.queue) for batcher in list(group_commit._batchers.values())) < 4:
            time.sleep(0.01)
        opened.append(True)
        return real_open()

    monkeypatch.setattr(store, "open_store", open_store)
    statuses = []
    threads = [threading.Thread(target=lambda: statuses.append(
        put_entry(app.test_client(), auth, series=series_id).status_code)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert statuses == [200] * 4
    assert watch.moved() == [1, 4, 1, 0]


def test_invoicexpress_sub_series_entries_are_counted_apart(client, key):
    sequence = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2023"}}).get_json()["sequence"]
    watch = Watch(sample("invx_entries_issued_total", api="invoicexpress"),
                  sample("invx_entries_issued_total", api="sequence_service"))
    response = put_entry(client, {"Authorization": f"Bearer {key}"},
                         series=sequence["current_invoice_sequence_id"])
    assert response.status_code == 200
    assert watch.moved() == [1, 0]


def test_calls_to_the_tax_authority_are_counted_by_adapter_operation_and_outcome(
        client, key):
    ok = sample("invx_at_calls_total", adapter="sandbox", operation="registarSerie",
                outcome="ok")
    timed = sample("invx_at_call_duration_seconds_count", adapter="sandbox",
                   operation="registarSerie")
    watch = Watch(ok, timed)
    response = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2024"}})
    assert response.status_code == 201
    moved = watch.moved()
    assert moved[0] == moved[1] > 0  # one per document type registered


def test_429s_are_counted_by_api(other_app, es_key):
    client = other_app(rate_limit="1/minute").test_client()
    watch = Watch(sample("invx_rate_limited_requests_total", api="sequence_service"),
                  sample("invx_rate_limited_requests_total", api="invoicexpress"))
    headers = {"Authorization": f"Bearer {es_key}"}
    assert client.get(f"{API}/series", headers=headers).status_code == 200
    assert client.get(f"{API}/series", headers=headers).status_code == 429
    assert client.get(f"/sequences.json?api_key={es_key}").status_code == 429
    assert watch.moved() == [1, 1]


def test_503s_for_the_database_are_counted(one_connection_app):
    app, es_key, _ = one_connection_app
    watch = Watch(sample("invx_unavailable_responses_total", cause="database"))
    with app.app_context():
        held = db.engine.connect()
    try:
        response = app.test_client().get(f"{API}/series",
                                         headers={"Authorization": f"Bearer {es_key}"})
    finally:
        held.close()
    assert response.status_code == 503
    assert watch.moved() == [1]


def test_503s_for_the_signing_key_are_counted(client, auth, settings, monkeypatch):
    from invx.sequence_service import signing

    series_id = str(uuid.uuid4())
    put_series(client, auth, series_id, name="Sales")
    settings(secret_key="a-different-secret-0123456789")
    monkeypatch.setattr(signing, "_signers", {})
    watch = Watch(sample("invx_unavailable_responses_total", cause="signing_unavailable"))
    assert put_entry(client, auth, series=series_id).status_code == 503
    assert watch.moved() == [1]


def test_503s_of_readyz_are_counted(monkeypatch, client):
    from invx import health

    watch = Watch(sample("invx_unavailable_responses_total", cause="not_ready"))
    monkeypatch.setattr(health, "_database_check", lambda *_, **__: ({"status": "fail"}, None))
    assert client.get("/readyz").status_code == 503
    assert watch.moved() == [1]


def test_known_label_values_are_there_before_their_first_event():
    for cause in instruments.UNAVAILABLE_CAUSES:
        assert REGISTRY.get_sample_value("invx_unavailable_responses_total",
                                         {"cause": cause}) is not None
    for api in instruments.APIS:
        assert REGISTRY.get_sample_value("invx_entries_issued_total", {"api": api}) is not None
