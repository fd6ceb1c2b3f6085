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
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import pytest
import requests
from sqlalchemy import text

from invx.extensions import db
from invx.models import Series
from invx.verification import verify_series

from .conftest import requires_postgres

pytestmark = [pytest.mark.live, pytest.mark.postgres]

REQUEST_TIMEOUT = 30  # seconds, for every HTTP request
RETRY_ONE_IN = 10  # about one request in ten resends an id the client already sent
# No answer, or half of one (the connection broke while the body was read): the client
# cannot know whether its entry was made.
UNKNOWN_OUTCOME = (requests.ConnectionError, requests.Timeout,
                   requests.exceptions.ChunkedEncodingError)


class Api:
    """A client of the Sequence Service on one live server, with its own connection."""

    def __init__(self, server_url, key):
        self.base = f"{server_url}/sequence/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {key}"

    def close(self):
        self.session.close()

    def get(self, path, **params):
        return self.session.get(self.base + path, params=params, timeout=REQUEST_TIMEOUT)

    def put(self, path, body):
        return self.session.put(self.base + path, json=body, timeout=REQUEST_TIMEOUT)

    def create_series(self, **body):
        """A new series under a fresh UUID; returns its JSON."""
        response = self.put(f"/series/{uuid.uuid4()}", body)
        assert response.status_code == 200, response.text
        return response.json()

    def put_entry(self, series_id, entry_id, body):
        return self.put(f"/series/{series_id}/entries/{entry_id}", body)

    def all_entries(self, series_id, limit=100):
        """Every entry of the series, newest first, by following the cursor."""
        entries, params = [], {"limit": limit}
        for _ in range(100_000):  # bounded: a cursor that never ends fails, not hangs
            response = self.get(f"/series/{series_id}/entries", **params)
            assert response.status_code == 200, response.text
            page = response.json()
            assert (page["series_id"], page["limit"]) == (series_id, limit)
            entries.extend(page["list"])
            if not page["cursor"]:
                assert len(page["list"]) <= limit
                return entries
            assert len(page["list"]) == limit, "a page before the last one is not full"
            params["cursor"] = page["cursor"]
        raise AssertionError("the cursor never ends")

    def verify(self, series_id):
        response = self.get(f"/series/{series_id}/verify")
        assert response.status_code == 200, response.text
        return response.json()


@dataclass
class Target:
    """A series clients write to, with how many fresh ids may still be sent to it
    (None: no limit)."""

    series: dict
    budget: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self):
        with self.lock:
            if self.budget is None:
                return True
            if self.budget <= 0:
                return False
            self.budget -= 1
            return True


@dataclass
class Outcome:
    series_id: str
    entry_id: str
    status: int
    body: object  # the JSON of a 200, or the text of anything else

    @property
    def code(self):
        return self.body["code"] if self.status == 200 else None


class Writer(threading.Thread):
    """One client: PUTs fresh uuid4 ids while its targets have budget, and about one
    request in ten is a retry, with exactly the same body, of an id it already sent.

    A connection error or a timeout is an unknown outcome: the id is recorded as
    unconfirmed, and with ``stop_when_lost`` the client stops there (its server is gone).
    """

    def __init__(self, name, api, targets, deadline, stop_when_lost=False):
        super().__init__(name=name, daemon=True)  # never keeps a failed run alive
        self.api, self.targets, self.deadline = api, targets, deadline
        self.stop_when_lost = stop_when_lost
        self.random = random.Random(name)  # noqa: S311 (which id to retry: no secret)
        self.sent = {}  # id -> (series id, body): what a retry must resend exactly
        self.outcomes, self.unconfirmed = [], []
        self.requests = self.retries = 0
        self.error = None

    def run(self):
        try:
            self._write()
        except Exception as error:  # reported by the test, not lost in a thread
            self.error = error
        finally:
            self.api.close()

    def _write(self):
        while time.monotonic() < self.deadline:
            if self.sent and self.random.randrange(RETRY_ONE_IN) == 0:
                entry_id = self.random.choice(list(self.sent))
                self.retries += 1
            else:
                entry_id = self.fresh_id()
                if entry_id is None:
                    return
            if not self.send(self.api, entry_id) and self.stop_when_lost:
                return

    def fresh_id(self):
        """A new id for a series chosen at random among those with budget left (None when
        none has), remembered with its body."""
        for target in self.random.sample(self.targets, len(self.targets)):
            if target.take():
                entry_id = str(uuid.uuid4())
                body = {"meta": {"n": str(len(self.sent)), "client": self.name}}
                self.sent[entry_id] = (target.series["id"], body)
                return entry_id
        return None

    def send(self, api, entry_id):
        """PUT the id with its body; False when the outcome is unknown."""
        series_id, body = self.sent[entry_id]
        self.requests += 1
        try:
            response = api.put_entry(series_id, entry_id, body)
        except UNKNOWN_OUTCOME:
            self.unconfirmed.append(entry_id)
            return False
        answer = response.json() if response.status_code == 200 else response.text[:500]
        self.outcomes.append(Outcome(series_id, entry_id, response.status_code, answer))
        return True


def run_writers(writers, deadline):
    """Start the writers and wait for them, never past the deadline (plus one request)."""
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=max(0.0, deadline - time.monotonic()) + REQUEST_TIMEOUT + 5)
    stuck = [w.name for w in writers if w.is_alive()]
    assert not stuck, f"clients still running after the deadline: {stuck}"
    errors = [(w.name, repr(w.error)) for w in writers if w.error]
    assert not errors, errors


def confirmed_codes(outcomes):
    """id -> its code, from every 200; an id told two different codes fails here."""
    codes = {}
    for outcome in outcomes:
        assert outcome.status == 200, (outcome.entry_id, outcome.status, outcome.body)
        assert (outcome.body["id"], outcome.body["series_id"]) == (outcome.entry_id,
                                                                   outcome.series_id)
        codes.setdefault(outcome.entry_id, set()).add(outcome.code)
    told_twice = {entry_id: c for entry_id, c in codes.items() if len(c) != 1}
    assert not told_twice, f"ids answered with different codes: {list(told_twice.items())[:5]}"
    return {entry_id: c.pop() for entry_id, c in codes.items()}


def number_of(series, code):
    """The index a code carries, checking the prefix, padding and suffix around it."""
    prefix, suffix = series["prefix"], series["suffix"]
    assert code.startswith(prefix) and code.endswith(suffix), code
    number = int(code[len(prefix):len(code) - len(suffix)])
    assert code == f"{prefix}{number:0{series['padding']}d}{suffix}", code
    return number


def assert_gap_free(api, app, series, codes_by_id):
    """The series holds exactly the confirmed entries, numbered start, start + 1, ... with
    no gap and no repeat: as told to the clients, as listed, as verified, as stored."""
    series_id, start, count = series["id"], series["start"], len(codes_by_id)
    last = start + count - 1
    numbers = sorted(number_of(series, code) for code in codes_by_id.values())
    assert numbers == list(range(start, start + count)), "confirmed numbers have a gap or repeat"

    listed = api.all_entries(series_id)
    assert len(listed) == count
    assert {e["id"]: e["code"] for e in listed} == codes_by_id
    assert [number_of(series, e["code"]) for e in listed] == list(range(last, start - 1, -1))
    for newer, older in itertools.pairwise(listed):
        assert newer["previous_id"] == older["id"], newer
    assert "previous_id" not in listed[-1]
    assert {e["series_id"] for e in listed} == {series_id}

    assert api.verify(series_id) == {"series_id": series_id, "valid": True, "entries": count,
                                     "first_number": start, "last_number": last}
    current = api.get(f"/series/{series_id}").json()
    assert (current["last_index"], current["last_entry_id"]) == (last, listed[0]["id"])

    with app.app_context():
        row = db.session.execute(text(
            "SELECT count(*), min(number), max(number), count(DISTINCT id) FROM entries "
            "WHERE series_id = :series_id"), {"series_id": series_id}).one()
    assert tuple(row) == (count, start, last, count)


def report(what, entries, requests_sent, seconds):
    print(f"\n{what}: {entries} entries, {requests_sent} requests in {seconds:.1f} s: "
          f"{entries / seconds:.0f} entries/s, {requests_sent / seconds:.0f} requests/s")


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


def put_together(server_url, key, calls, timeout=60):
    """PUT ``calls`` — (series id, entry id, body) — from one thread each, released at the
    same moment by a barrier once every thread has its connection open. Returns the
    responses as (status, JSON), in the order of ``calls``."""
    barrier = threading.Barrier(len(calls), timeout=timeout)
    results = [None] * len(calls)

    def call(index, series_id, entry_id, body):
        api = Api(server_url, key)
        try:
            assert api.get(f"/series/{series_id}").status_code == 200  # connected, warm
            barrier.wait()
            response = api.put_entry(series_id, entry_id, body)
            results[index] = (response.status_code, response.json())
        except Exception as error:
            barrier.abort()
            results[index] = ("error", repr(error))
        finally:
            api.close()

    threads = [threading.Thread(target=call, args=(n, *c), daemon=True)
               for n, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout + REQUEST_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "a client never finished"
    return results


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


@requires_postgres
def test_a_worker_killed_while_clients_write_loses_nothing_it_confirmed(app, es_key,
                                                                        live_server):
    server = live_server(workers=2, INVX_THREADS=4)
    api = Api(server.url, es_key)
    series = api.create_series(name="crash", prefix="C-", padding=5, start=1)
    target = Target(series)  # no budget: clients write until the server dies
    began = time.monotonic()
    deadline = began + 60
    writers = [Writer(f"client-{n}", Api(server.url, es_key), [target], deadline,
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
    assert before_crash > 0, "nothing was written before the crash"
    lost = {i for w in writers for i in w.unconfirmed}
    assert lost, "the crash interrupted no client"
    assert all(len(w.unconfirmed) <= 1 for w in writers)

    # Killed mid-transaction, the server left a whole chain: what it committed but never
    # confirmed is already there, the rest left no trace (no number, no counter change).
    with app.app_context():
        assert verify_series(db.session.get(Series, series["id"]))["valid"] is True
        stored = dict(db.session.execute(text(
            "SELECT id, code FROM entries WHERE series_id = :series_id"),
            {"series_id": series["id"]}).all())
    committed_unconfirmed = {i: stored[i] for i in lost if i in stored}

    restarted = live_server(workers=2, INVX_THREADS=4)
    retry_outcomes, failures = [], []

    def retry_then_write_more(writer, entry_ids):
        again = Api(restarted.url, es_key)
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

    threads = [threading.Thread(target=retry_then_write_more, args=(w, list(w.unconfirmed)),
                                daemon=True) for w in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(2 * REQUEST_TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert not failures, failures
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
