"""The Sequence Service's numbering under real concurrency: gunicorn workers, many clients.

These tests are the proof of rule 1 and 2 of the spec (gap-free whatever the concurrency,
the number of processes or the crashes; idempotent by the client's UUID): many client
threads, each with its own HTTP connection, write to gunicorn with several worker processes
(gevent, the production setting on PostgreSQL, and threads in one test), with database
connections of their own; retries of ids already sent are mixed in; in one test the whole
server is killed (SIGKILL) while clients write, and a new one takes over. Every response is
then checked against the API's listing, ``verify`` and the ``entries`` table itself: the
numbers are exactly ``start .. start + n - 1``.

They run on PostgreSQL only, and skip without ``INVX_TEST_DATABASE_URL``: SQLite serializes
every write transaction (invx begins them all IMMEDIATE, one writer at a time for the whole
database), so on SQLite nothing could ever interleave and such a test would prove nothing;
the proof that the series row lock keeps numbers gap-free across processes is PostgreSQL's.
"""
import threading
import time
import uuid

import pytest
from sqlalchemy import select, text

from invx.extensions import db
from invx.models import Series
from invx.sequence_service.verification import verify_series

from ..support.clients import (
    REQUEST_TIMEOUT,
    Api,
    Target,
    Writer,
    assert_gap_free,
    confirmed_codes,
    number_of,
    put_together,
    report,
    run_writers,
)
from ..support.postgres import requires_postgres

pytestmark = [pytest.mark.live, pytest.mark.postgres]

@requires_postgres
def test_5000_entries_on_one_series_from_many_clients_are_gap_free(app, es_key,
                                                                   live_server):
    server = live_server(workers=4, INVX_THREADS=4)
    api = Api(server.url, es_key)
    series = api.create_series(name="hot", prefix="INV-", padding=6, start=1000)
    assert series["last_index"] == 999
    target = Target(series, budget=5000)

    began = time.monotonic()
    deadline = began + 240
    writers = [Writer(f"client-{n}", Api(server.url, es_key), [target], deadline)
               for n in range(32)]
    run_writers(writers, deadline)
    seconds = time.monotonic() - began

    outcomes = [o for w in writers for o in w.outcomes]
    unconfirmed = [i for w in writers for i in w.unconfirmed]
    assert not unconfirmed, f"{len(unconfirmed)} requests had no answer"
    requests_sent, retries = sum(w.requests for w in writers), sum(w.retries for w in writers)
    assert len(outcomes) == requests_sent
    assert 0.05 < retries / requests_sent < 0.15, (retries, requests_sent)
    codes_by_id = confirmed_codes(outcomes)  # every response a 200; one code per id
    assert len(codes_by_id) == 5000
    assert set(codes_by_id.values()) == {f"INV-{n:06d}" for n in range(1000, 6000)}
    assert_gap_free(api, app, series, codes_by_id)
    report("one series, 32 clients, 4x4 gunicorn", 5000, requests_sent, seconds)


@requires_postgres
def test_several_series_at_once_stay_independent_and_gap_free(app, es_key, live_server):
    # Threads, not gevent (the default on PostgreSQL), so that both worker classes are
    # proven here.
    server = live_server(workers=4, INVX_THREADS=4, INVX_WORKER_CLASS="gthread")
    api = Api(server.url, es_key)
    shapes = [("A-", 4, "", 1), ("FT 2026/", 0, "", 100), ("", 8, "-F1", 0),
              ("X", 3, "Y", 999), ("", 0, "", 10**12), ("INV-", 6, "", 1000)]
    targets = [Target(api.create_series(name=f"s{n}", prefix=prefix, padding=padding,
                                        suffix=suffix, start=start), budget=600)
               for n, (prefix, padding, suffix, start) in enumerate(shapes)]

    began = time.monotonic()
    deadline = began + 180
    writers = [Writer(f"client-{n}", Api(server.url, es_key), targets, deadline)
               for n in range(24)]
    run_writers(writers, deadline)
    seconds = time.monotonic() - began

    outcomes = [o for w in writers for o in w.outcomes]
    assert not [i for w in writers for i in w.unconfirmed]
    assert sum(w.retries for w in writers) > 0
    codes_by_id = confirmed_codes(outcomes)
    for target in targets:
        series_id = target.series["id"]
        in_series = {o.entry_id for o in outcomes if o.series_id == series_id}
        assert len(in_series) == 600, target.series["name"]
        assert_gap_free(api, app, target.series,
                        {i: c for i, c in codes_by_id.items() if i in in_series})
    report("6 series, 24 clients, 4x4 gunicorn", 3600,
           sum(w.requests for w in writers), seconds)


@requires_postgres
def test_concurrent_retries_of_one_id_produce_one_entry(app, es_key, live_server):
    server = live_server(workers=4, INVX_THREADS=4)
    api = Api(server.url, es_key)
    series = api.create_series(name="once", prefix="R-", padding=3, start=7)
    entry_id, body = str(uuid.uuid4()), {"meta": {"order": "42"}}

    results = put_together(server.url, es_key, [(series["id"], entry_id, body)] * 16)
    assert {status for status, _ in results} == {200}, results
    assert {(a["id"], a["code"], a["series_id"]) for _, a in results} == {
        (entry_id, "R-007", series["id"])}
    assert len({a["sigs"][0] for _, a in results}) == 1  # one entry, signed once
    assert_gap_free(api, app, series, {entry_id: "R-007"})

    changed = api.put_entry(series["id"], entry_id, {"meta": {"order": "43"}})
    assert (changed.status_code, changed.json()["code"]) == (409, "conflict")
    other = api.create_series(name="other", prefix="O-", start=1)
    elsewhere = api.put_entry(other["id"], entry_id, body)
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (409, "conflict")
    assert_gap_free(api, app, series, {entry_id: "R-007"})
    assert api.all_entries(other["id"]) == []
    assert api.get(f"/series/{other['id']}").json()["last_index"] == 0

    # One id raced into two series at once: one series gets it, the other answers 409
    # and its counter is untouched (the counter and the entry commit together or not).
    left = api.create_series(name="left", prefix="L-", start=1)
    right = api.create_series(name="right", prefix="R-", start=1)
    raced = str(uuid.uuid4())
    calls = [(s["id"], raced, body) for s in (left, right) for _ in range(8)]
    results = put_together(server.url, es_key, calls)
    by_series = {s["id"]: [r for c, r in zip(calls, results, strict=True) if c[0] == s["id"]]
                 for s in (left, right)}
    winners = [s for s in (left, right)
               if {status for status, _ in by_series[s["id"]]} == {200}]
    assert len(winners) == 1, results
    winner = winners[0]
    loser = right if winner is left else left
    code = by_series[winner["id"]][0][1]["code"]
    assert {(a["id"], a["code"]) for _, a in by_series[winner["id"]]} == {(raced, code)}
    assert {(s, a["code"]) for s, a in by_series[loser["id"]]} == {(409, "conflict")}
    assert_gap_free(api, app, winner, {raced: code})
    assert api.all_entries(loser["id"]) == []
    assert api.verify(loser["id"])["valid"] is True
    assert api.get(f"/series/{loser['id']}").json()["last_index"] == 0


def _write_until_the_server_dies(server, key, series):
    """16 clients write to ``series`` until ``server`` is killed 1.5 s in; returns them and
    how many answers came before the crash."""
    deadline = time.monotonic() + 60
    target = Target(series)  # no budget: clients write until the server dies
    writers = [Writer(f"client-{n}", Api(server.url, key), [target], deadline,
                      stop_when_lost=True) for n in range(16)]
    for writer in writers:
        writer.start()
    time.sleep(1.5)
    before_crash = sum(len(w.outcomes) for w in writers)
    server.crash()
    for writer in writers:
        writer.join(REQUEST_TIMEOUT + 5)
    assert not any(w.is_alive() for w in writers), "a client never noticed the crash"
    assert not [w.error for w in writers if w.error]
    return writers, before_crash


def _retry_then_write_more(server, key, writers):
    """Each writer sends once more, with the same body, every id it got no answer for, then
    three new ones; returns the answers to the retries."""
    retry_outcomes, failures = [], []

    def retry(writer, entry_ids):
        again = Api(server.url, key)
        try:
            for entry_id in entry_ids:  # once each, with exactly the same body
                if not writer.send(again, entry_id):
                    failures.append(f"no answer to the retry of {entry_id}")
                    return
                retry_outcomes.append(writer.outcomes[-1])
            for _ in range(3):  # and numbering goes on from where the crash left it
                if not writer.send(again, writer.fresh_id()):
                    failures.append("no answer from the restarted server")
                    return
        except Exception as error:
            failures.append(repr(error))
        finally:
            again.close()

    threads = [threading.Thread(target=retry, args=(w, list(w.unconfirmed)), daemon=True)
               for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * REQUEST_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
    return retry_outcomes


@requires_postgres
def test_a_worker_killed_while_clients_write_loses_nothing_it_confirmed(app, es_key,
                                                                        live_server):
    server = live_server(workers=2, INVX_THREADS=4)
    series = Api(server.url, es_key).create_series(name="crash", prefix="C-", padding=5,
                                                   start=1)
    began = time.monotonic()
    writers, before_crash = _write_until_the_server_dies(server, es_key, series)
    assert before_crash > 0, "nothing was written before the crash"
    lost = {i for w in writers for i in w.unconfirmed}
    assert lost, "the crash interrupted no client"
    assert all(len(w.unconfirmed) <= 1 for w in writers)

    # Killed mid-transaction, the server left a whole chain: what it committed but never
    # confirmed is already there, the rest left no trace (no number, no counter change).
    with app.app_context():
        assert verify_series(db.session.scalar(
            select(Series).where(Series.id == series["id"])))["valid"] is True
        stored = dict(db.session.execute(text(
            "SELECT id, code FROM entries WHERE series_id = :series_id"),
            {"series_id": series["id"]}).all())
    committed_unconfirmed = {i: stored[i] for i in lost if i in stored}

    restarted = live_server(workers=2, INVX_THREADS=4)
    retry_outcomes = _retry_then_write_more(restarted, es_key, writers)
    seconds = time.monotonic() - began

    assert {o.entry_id for o in retry_outcomes} == set(lost)
    outcomes = [o for w in writers for o in w.outcomes]
    codes_by_id = confirmed_codes(outcomes)  # all 200, before and after; one code per id
    for entry_id in lost:
        if entry_id in committed_unconfirmed:  # made before the crash: the same number
            assert codes_by_id[entry_id] == committed_unconfirmed[entry_id]
        else:  # never made: a new number, after every number made before the crash
            assert number_of(series, codes_by_id[entry_id]) > len(stored), entry_id
    # Every id in the series was confirmed to its client, with the code it was told, and
    # every confirmed id is there: nothing lost, nothing doubled, no gap.
    assert_gap_free(Api(restarted.url, es_key), app, series, codes_by_id)
    print(f"\ncrash: {before_crash} responses in the first 1.5 s, {len(lost)} unknown "
          f"outcomes at the crash, of which {len(committed_unconfirmed)} had committed "
          f"(their retry got the same code back); {len(codes_by_id)} entries in the end, "
          f"{seconds:.1f} s")
