"""Group commit: the requests of one process share a transaction, whatever their series,
each with its own outcome."""
import threading
import time
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from invx.errors import ApiConflict
from invx.extensions import db
from invx.sequence_service import group_commit, postgres_store
from invx.sequence_service.store import CoreStore

from ..support.batches import ticket, write
from ..support.postgres import requires_postgres
from ..support.sequence_service import SALES, put_entry, put_series


def patch_stores(monkeypatch, method, wrap):
    """Wrap ``method`` of both batch stores (the test database uses one of them)."""
    for kind in (CoreStore, postgres_store.PostgresStore):
        monkeypatch.setattr(kind, method, wrap(getattr(kind, method)))


def test_a_batch_gives_each_request_its_own_number_link_and_signature(app, key, series):
    tickets = [ticket() for _ in range(5)]
    write(app, key, tickets)
    entries = [t.outcome()[1] for t in tickets]
    assert [e.code for e in entries] == [f"INV-0000{n}-F1" for n in range(1, 6)]
    assert [e.previous_id for e in entries] == [None] + [e.id for e in entries[:-1]]
    assert len({e.sigs[0] for e in entries}) == 5


def test_retries_conflicts_and_duplicates_in_one_batch_affect_only_themselves(app, key,
                                                                             series):
    first = ticket(meta={"a": "1"})
    write(app, key, [first])
    retry = ticket(first.entry_id, meta={"a": "1"})
    changed = ticket(first.entry_id, meta={"a": "2"})
    new = ticket()
    twin = ticket(new.entry_id)
    twin_changed = ticket(new.entry_id, meta={"b": "1"})
    write(app, key, [retry, changed, new, twin, twin_changed])
    assert retry.outcome()[1].code == first.outcome()[1].code == "INV-00001-F1"
    with pytest.raises(ApiConflict, match="another body"):
        changed.outcome()
    assert new.outcome()[1].code == twin.outcome()[1].code == "INV-00002-F1"
    with pytest.raises(ApiConflict, match="another body"):
        twin_changed.outcome()


def test_a_failed_commit_tells_no_request_it_has_a_number(app, key, series, monkeypatch):
    tickets = [ticket() for _ in range(3)]

    def failing(write_and_commit):
        def fail(store, writes, now):
            (series, entries), = writes
            write_and_commit(store, [(series, entries[:1])], now)  # committed: the answers...
            raise OperationalError("COMMIT", {}, Exception("the database went away"))
        return fail

    patch_stores(monkeypatch, "write", failing)
    with pytest.raises(OperationalError):
        write(app, key, tickets)
    assert all(t.result is None for t in tickets)  # ...are still not given


def _lead_then_queue(key, requests, leading, queued, release):
    """Run ``requests`` in threads: the first alone until ``leading()`` (its batch is being
    written), then the others, until ``queued`` tickets wait in the queue of ``key``; then
    ``release`` the leader, and wait for them all."""
    threads = [threading.Thread(target=request) for request in requests]
    threads[0].start()
    while not leading():
        time.sleep(0.001)
    for thread in threads[1:]:
        thread.start()
    deadline = time.monotonic() + 5
    while len(group_commit._batchers[key].queue) < queued:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    for thread in threads:
        thread.join(5)


def test_concurrent_requests_are_coalesced_and_the_lead_is_handed_over():
    batches, release = [], threading.Event()

    def write_batch(batch):
        tickets = batch.take()
        batches.append([t.entry_id for t in tickets])
        if len(batches) == 1:
            assert release.wait(5)  # hold the first batch while others queue
        for t in tickets:
            t.result = t.entry_id

    key = ("test", str(uuid.uuid4()))
    tickets = [ticket() for _ in range(6)]
    _lead_then_queue(key, [lambda t=t: group_commit.submit(key, t, write_batch)
                           for t in tickets], lambda: batches, 5, release)
    assert [len(b) for b in batches] == [1, 5]  # five requests, one transaction
    assert all(t.outcome() == t.entry_id for t in tickets)
    assert key not in group_commit._batchers  # idle: forgotten


def test_a_batch_that_fails_before_taking_its_requests_fails_the_leaders_alone():
    """A leader that fails before it takes its batch (it could not read the signing key,
    say) fails its own request alone; the requests queued meanwhile are not failed with
    it, and the next of them leads."""
    calls, queued = [], threading.Event()

    def write_batch(batch):
        calls.append(1)
        if len(calls) == 1:
            assert queued.wait(5)
            raise RuntimeError("no signing key")
        for t in batch.take():
            t.result = t.entry_id

    key = ("test", str(uuid.uuid4()))
    tickets = [ticket() for _ in range(3)]
    outcomes = {}

    def submit(t):
        try:
            outcomes[t.entry_id] = group_commit.submit(key, t, write_batch)
        except RuntimeError as error:
            outcomes[t.entry_id] = error

    _lead_then_queue(key, [lambda t=t: submit(t) for t in tickets], lambda: calls, 3, queued)
    assert isinstance(outcomes[tickets[0].entry_id], RuntimeError)
    assert [outcomes[t.entry_id] for t in tickets[1:]] == [t.entry_id for t in tickets[1:]]
    assert len(calls) == 2  # the two others, in one batch
    assert key not in group_commit._batchers


def test_an_answer_comes_only_after_its_batch_is_committed(client, key, series, monkeypatch):
    committed = []

    def recording(write_and_commit):
        def record(*args):
            write_and_commit(*args)
            committed.append(time.monotonic())
        return record

    patch_stores(monkeypatch, "write", recording)
    response = client.put(f"/sequence/v1/series/{SALES}/entries/{uuid.uuid4()}",
                          headers={"Authorization": f"Bearer {key}"})
    answered = time.monotonic()
    assert response.status_code == 200
    assert committed and committed[-1] <= answered


def _stale_used_ids(monkeypatch):
    """The read of used ids misses, once, an entry another process committed meanwhile:
    as if that process had committed just after the read."""
    calls = []

    def staling(read):
        def stale(store, groups, ids):
            calls.append(len(ids))
            found, existing = read(store, groups, ids)
            return found, ({} if len(calls) == 1 else existing)
        return stale

    patch_stores(monkeypatch, "read", staling)
    return calls


def test_an_id_used_meanwhile_in_the_same_series_gets_that_entry_not_a_new_number(
        app, key, series, monkeypatch):
    first = ticket(meta={"a": "1"})
    write(app, key, [first])
    calls = _stale_used_ids(monkeypatch)
    retry, other = ticket(first.entry_id, meta={"a": "1"}), ticket()
    write(app, key, [retry, other])  # the INSERT hits the unique id: written again
    assert len(calls) > 1
    assert retry.outcome()[1].code == "INV-00001-F1"
    assert other.outcome()[1].code == "INV-00002-F1"  # no number lost or doubled
    assert other.outcome()[1].previous_id == first.entry_id


def test_an_id_used_meanwhile_in_another_series_is_a_conflict_for_that_request_only(
        app, client, key, series, monkeypatch):
    other_series = "0b7e5a3c-1f2d-4c8e-9a6b-5d4c3b2a1f0e"
    put_series(client, {"Authorization": f"Bearer {key}"}, other_series)
    taken = ticket()
    write(app, key, [taken], other_series)
    _stale_used_ids(monkeypatch)
    clash, fine = ticket(taken.entry_id), ticket()
    write(app, key, [clash, fine])
    with pytest.raises(ApiConflict, match="another series"):
        clash.outcome()
    assert fine.outcome()[1].code == "INV-00001-F1"


@requires_postgres
def test_a_sequence_closing_while_a_batch_waits_for_the_lock_stops_that_batch(
        app, client, key, sequence):
    """What lifecycle relies on: it commits "closing", then takes the series' locks to read
    the final numbers. A batch that was already waiting for a lock must see "closing" once
    it has the lock, although its locking statement began before."""
    invoices = sequence["current_invoice_sequence_id"]
    auth = {"Authorization": f"Bearer {key}"}
    answer = []
    writer = threading.Thread(target=lambda: answer.append(
        put_entry(client, auth, series=invoices)), daemon=True)
    with app.app_context():
        holder = db.engine.connect()  # an in-flight batch of another process
        try:
            holder.execute(text("SELECT 1 FROM series WHERE number_id = :n FOR UPDATE"),
                           {"n": invoices})
            writer.start()
            _wait_until_a_statement_waits_for_a_lock()
            with db.engine.begin() as lifecycle:
                lifecycle.execute(text("UPDATE sequences SET closed_as = 'closing'"))
        finally:
            holder.commit()
            holder.close()
        writer.join(10)
        count = db.session.execute(text("SELECT count(*) FROM entries")).scalar()
    assert answer[0].status_code == 422, answer[0].get_json()
    assert answer[0].get_json()["code"] == "series_closed"
    assert count == 0


@requires_postgres
def test_requests_that_come_while_the_lock_is_awaited_join_that_batch(app, client, key,
                                                                      series, monkeypatch):
    """Once the series' row lock is granted, the leader takes the requests that queued
    while another process's batch held it: they are written with its own, in one
    transaction, instead of waiting for the next one. A retry among them gets its entry,
    not a new number (their ids are read too)."""
    written = []

    def recording(write_and_commit):
        def record(store, writes, *args):
            written.append(sum(len(entries) for _, entries in writes))
            write_and_commit(store, writes, *args)
        return record

    auth = {"Authorization": f"Bearer {key}"}
    earlier = str(uuid.uuid4())
    assert put_entry(client, auth, entry_id=earlier).get_json()["code"] == "INV-00001-F1"
    patch_stores(monkeypatch, "write", recording)
    answers = []
    writers = [threading.Thread(target=lambda entry_id=entry_id: answers.append(
        put_entry(client, auth, entry_id=entry_id)), daemon=True)
        for entry_id in [None, None, earlier, None, None]]
    with app.app_context():
        queue = db.engine
        holder = db.engine.connect()  # an in-flight batch of another process
        try:
            holder.execute(text("SELECT 1 FROM series WHERE id = :id FOR UPDATE"),
                           {"id": SALES})
            writers[0].start()
            _wait_until_a_statement_waits_for_a_lock()  # the leader, with its request alone
            for writer in writers[1:]:
                writer.start()
            deadline = time.monotonic() + 10
            while sum(not t.leader for t in group_commit._batchers[queue].queue) < 4:
                assert time.monotonic() < deadline, "the requests did not queue"
                time.sleep(0.001)
        finally:
            holder.commit()
            holder.close()
    for writer in writers:
        writer.join(10)
    assert written == [4]  # one transaction: the leader's and three new ones
    assert sorted(answer.get_json()["code"] for answer in answers) == [
        f"INV-0000{n}-F1" for n in (1, 2, 3, 4, 5)]


def _wait_until_a_statement_waits_for_a_lock():
    deadline = time.monotonic() + 10
    while True:
        with db.engine.connect() as watcher:  # a new transaction: statistics are fresh
            if watcher.execute(text("SELECT count(*) FROM pg_stat_activity WHERE "
                                    "wait_event_type = 'Lock' AND state = 'active'")).scalar():
                return
        assert time.monotonic() < deadline, "the batch never waited for the lock"
        time.sleep(0.01)
