"""Many HTTP clients of a live invx, each with its own connection, writing entries with
retries mixed in, and the checks of what they were told against what the server holds."""
import itertools
import random
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests
from sqlalchemy import text

from invx.extensions import db

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


def assert_verifies(api, series_id, start, count):
    """GET .../verify vouches for all ``count`` entries and finds them whole: in one
    answer or, beyond one request's budget, in those that follow (each goes on from the
    checkpoint the one before left), on top of the checkpoint of an earlier one."""
    reports = [api.verify(series_id)]
    while reports[-1]["valid"] is None and len(reports) < 100:
        reports.append(api.verify(series_id))
    assert reports[-1]["valid"] is True, reports[-1]
    assert reports[-1]["verified_through"] == start + count - 1
    checkpoint = reports[0]["checkpoint"]
    earlier = checkpoint["number"] - start + 1 if checkpoint else 0
    assert earlier + sum(report["entries"] for report in reports) == count


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

    assert_verifies(api, series_id, start, count)
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
