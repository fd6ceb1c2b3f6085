"""One batch, many series: the requests a process holds at once share one transaction
whatever their series and account; each series is numbered on its own, and a request
that fails fails alone."""
import threading
import time
import uuid

import pytest
from sqlalchemy import text

from invx.errors import ApiConflict, ApiNotFound, ApiUnauthorized
from invx.extensions import db
from invx.sequence_service import group_commit

from ..support.batches import group, ticket, write
from ..support.postgres import requires_postgres
from ..support.sequence_service import SALES, put_series
from .test_group_commit import _wait_until_a_statement_waits_for_a_lock, patch_stores

OTHER = "0b7e5a3c-1f2d-4c8e-9a6b-5d4c3b2a1f0e"


@pytest.fixture
def two_accounts(client, key, make_account, series):
    """acme's SALES and OTHER, and a second account's series under SALES's very id (ids
    are per account); returns (acme's key, the other account's key)."""
    put_series(client, {"Authorization": f"Bearer {key}"}, OTHER)
    second = make_account(name="beta", country="ES", fiscal_id="B87654321",
                          tax_authority="none")
    put_series(client, {"Authorization": f"Bearer {second}"}, SALES)
    return key, second


def _committed(monkeypatch):
    """The writes of each commit: [[(series id, [numbers])]]."""
    commits = []

    def recording(write_and_commit):
        def record(store, writes, now):
            commits.append([(series.id, [entry.number for entry in entries])
                            for series, entries in writes])
            write_and_commit(store, writes, now)
        return record

    patch_stores(monkeypatch, "write", recording)
    return commits


def test_requests_for_several_series_and_accounts_share_one_transaction(
        app, two_accounts, monkeypatch):
    acme, beta = two_accounts
    commits = _committed(monkeypatch)
    with app.app_context():
        groups = [group(acme, SALES), group(acme, OTHER), group(beta, SALES)]
    tickets = [ticket(group=groups[n % 3]) for n in range(9)]
    write(app, acme, tickets)
    assert len(commits) == 1 and len(commits[0]) == 3
    for each in groups:
        entries = [t.outcome()[1] for t in tickets if t.group == each]
        assert [e.number for e in entries] == [1, 2, 3]  # each series on its own
        assert [e.previous_id for e in entries] == [None] + [e.id for e in entries[:-1]]
    beta_entry = next(t for t in tickets if t.group == groups[2]).outcome()[1]
    acme_entry = next(t for t in tickets if t.group == groups[0]).outcome()[1]
    assert beta_entry.series_id == acme_entry.series_id == SALES
    assert beta_entry.code == "INV-00001-F1" and acme_entry.code == "INV-00001-F1"


def test_a_series_that_cannot_number_fails_its_own_requests_only(app, two_accounts):
    acme, beta = two_accounts
    with app.app_context():
        unknown = ticket(group=group(acme, str(uuid.uuid4())))
        bad_key = ticket(group=(group(acme)[0][::-1], ("id", SALES)))  # no such key
        fine = [ticket(group=group(acme)), ticket(group=group(beta))]
    write(app, acme, [unknown, *fine, bad_key])
    with pytest.raises(ApiNotFound):
        unknown.outcome()
    with pytest.raises(ApiUnauthorized):
        bad_key.outcome()
    assert [t.outcome()[1].number for t in fine] == [1, 1]


def test_an_id_is_one_entry_per_account_even_within_one_batch(app, two_accounts):
    """Entry ids are unique within an account: the same id for two of its series in one
    batch is a conflict for the second; for another account's series it is another
    entry."""
    acme, beta = two_accounts
    entry_id = str(uuid.uuid4())
    with app.app_context():
        first, clash = ticket(entry_id, group=group(acme)), ticket(entry_id,
                                                                   group=group(acme, OTHER))
        elsewhere = ticket(entry_id, group=group(beta))
    write(app, acme, [first, clash, elsewhere])
    assert first.outcome()[1].number == 1
    with pytest.raises(ApiConflict, match="another series"):
        clash.outcome()
    assert elsewhere.outcome()[1].number == 1


def _submit_all(queue, tickets, write_batch):
    threads = [threading.Thread(target=group_commit.submit, args=(queue, t, write_batch),
                                daemon=True) for t in tickets]
    for thread in threads:
        thread.start()
    return threads


def _until(condition):
    deadline = time.monotonic() + 5
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.001)


def test_while_a_batch_waits_other_series_get_a_leader_and_its_own_join_it_late():
    """A leader waiting on its series' row lock (another process's batch holds it) holds
    that series alone: a request for another series gets a leader of its own and is
    answered meanwhile; the requests for the held series wait, and the leader takes them
    once its locks are granted (the others' series would need a lock out of order)."""
    batches, release = {}, threading.Event()
    hot, cold = ("key", ("id", "hot")), ("key", ("id", "cold"))

    def write_batch(batch):
        first = batch.take()
        late = []
        if first[0].group == hot:
            assert release.wait(5)  # the others queue meanwhile
            late = batch.take(groups={hot})
        batches[first[0].entry_id] = [[t.group for t in first], [t.group for t in late]]
        for t in first + late:
            t.result = t.entry_id

    queue = ("test", str(uuid.uuid4()))
    tickets = [ticket(group=hot), ticket(group=hot), ticket(group=cold), ticket(group=hot)]
    threads = _submit_all(queue, tickets[:1], write_batch)
    _until(lambda: group_commit._batchers[queue].held)
    threads += _submit_all(queue, tickets[1:], write_batch)
    _until(lambda: tickets[2].result is not None)  # cold, answered while hot waits
    assert batches == {tickets[2].entry_id: [[cold], []]}
    assert len(group_commit._batchers[queue].queue) == 2  # hot's, left for its leader
    release.set()
    for thread in threads:
        thread.join(5)
    assert batches[tickets[0].entry_id] == [[hot], [hot, hot]]
    assert all(t.outcome() == t.entry_id for t in tickets)
    assert queue not in group_commit._batchers


def test_requests_for_other_series_queued_behind_a_batch_make_the_next_one(monkeypatch):
    """While a batch is written (and is not held up), requests of any series queue for
    the next one, which the first of them leads: one transaction each time."""
    monkeypatch.setattr(group_commit, "LEAD_AFTER", 30.0)
    batches, release = [], threading.Event()

    def write_batch(batch):
        batches.append([t.entry_id for t in batch.take()])
        if len(batches) == 1:
            assert release.wait(5)
        for t in batch.tickets:
            t.result = t.entry_id

    queue = ("test", str(uuid.uuid4()))
    tickets = [ticket(group=("key", ("id", str(n)))) for n in range(5)]
    threads = _submit_all(queue, tickets[:1], write_batch)
    _until(lambda: batches)
    threads += _submit_all(queue, tickets[1:], write_batch)
    _until(lambda: len(group_commit._batchers[queue].queue) == 4)
    release.set()
    for thread in threads:
        thread.join(5)
    assert batches == [[tickets[0].entry_id], [t.entry_id for t in tickets[1:]]]
    assert all(t.outcome() == t.entry_id for t in tickets)


def test_at_most_max_leaders_write_at_once_and_the_lead_passes_on():
    writing, taken_by, peak, release = [], [], [], threading.Event()

    def write_batch(batch):
        taken = batch.take()
        taken_by.append(taken)
        writing.append(taken)
        peak.append(len(writing))
        assert release.wait(5)
        writing.remove(taken)
        for t in taken:
            t.result = t.entry_id

    queue = ("test", str(uuid.uuid4()))
    tickets = [ticket(group=("key", ("id", str(n))))
               for n in range(group_commit.MAX_LEADERS + 3)]
    threads = []
    for n, each in enumerate(tickets[:group_commit.MAX_LEADERS]):  # each finds the others
        threads += _submit_all(queue, [each], write_batch)         # held up, and leads
        _until(lambda n=n: len(writing) == n + 1)
    threads += _submit_all(queue, tickets[group_commit.MAX_LEADERS:], write_batch)
    _until(lambda: len(group_commit._batchers[queue].queue) == 3)  # no leader for them
    release.set()
    for thread in threads:
        thread.join(5)
    assert max(peak) == group_commit.MAX_LEADERS
    assert sum(len(batch) for batch in taken_by) == len(tickets)
    assert all(t.outcome() == t.entry_id for t in tickets)
    assert queue not in group_commit._batchers


@requires_postgres
def test_locks_are_taken_in_the_series_key_order_whatever_the_requests_order(
        app, client, key, series):
    """Two processes' batches that want some of the same series never wait for each other:
    each takes its locks in the order of the series' primary key. Here the series later in
    that order is held by another transaction; a batch whose first request is for it has
    nonetheless locked the earlier one while it waits."""
    put_series(client, {"Authorization": f"Bearer {key}"}, OTHER)
    earlier, later = sorted([SALES, OTHER])
    with app.app_context():
        tickets = [ticket(group=group(key, later)), ticket(group=group(key, earlier))]
        holder = db.engine.connect()  # another process's batch, on the later series
    holder.execute(text("SELECT 1 FROM series WHERE id = :id FOR UPDATE"), {"id": later})
    writer = threading.Thread(target=write, args=(app, key, tickets), daemon=True)
    writer.start()
    try:
        with app.app_context():
            _wait_until_a_statement_waits_for_a_lock()
            with db.engine.connect() as probe:
                held = probe.execute(text("SELECT 1 FROM series WHERE id = :id "
                                          "FOR UPDATE SKIP LOCKED"), {"id": earlier}).first()
                probe.rollback()
    finally:
        holder.commit()
        holder.close()
    writer.join(10)
    assert held is None  # the earlier series was locked first, while the later was awaited
    assert [t.outcome()[1].number for t in tickets] == [1, 1]
