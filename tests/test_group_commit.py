"""Group commit: requests for one series share a transaction, each with its own outcome."""
import threading
import time
import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError

from invx import batch_store, group_commit, issuing, numbering
from invx.auth import hash_api_key
from invx.extensions import db

from .conftest import requires_postgres
from .test_sequence_api import SALES, put_entry, put_series, sequence  # noqa: F401 (fixture)


@pytest.fixture
def series(client, key):
    put_series(client, {"Authorization": f"Bearer {key}"})
    return SALES


def ticket(entry_id=None, meta=None):
    entry_id = entry_id or str(uuid.uuid4())
    return group_commit.Ticket(entry_id, numbering.request_hash({"meta": meta or {},
                                                                 "sig": None}), meta, None)


def patch_stores(monkeypatch, method, wrap):
    """Wrap ``method`` of both batch stores (the test database uses one of them)."""
    for store in (batch_store.CoreStore, batch_store.PostgresStore):
        monkeypatch.setattr(store, method, wrap(getattr(store, method)))


def write(app, key, tickets, series_id=SALES):
    with app.app_context():
        issuing._write_batch(hash_api_key(key), ("id", series_id),
                             group_commit.Batch(tickets=tickets), app.config["INVX_SECRET_KEY"])


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
    with pytest.raises(Exception, match="another body"):
        changed.outcome()
    assert new.outcome()[1].code == twin.outcome()[1].code == "INV-00002-F1"
    with pytest.raises(Exception, match="another body"):
        twin_changed.outcome()


def test_a_failed_commit_tells_no_request_it_has_a_number(app, key, series, monkeypatch):
    tickets = [ticket() for _ in range(3)]

    def failing(write_and_commit):
        def fail(store, entries, series, now):
            write_and_commit(store, entries[:1], series, now)  # committed: the answers...
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
        def stale(store, key_digest, lookup, ids):
            calls.append(len(ids))
            series, existing = read(store, key_digest, lookup, ids)
            return series, ({} if len(calls) == 1 else existing)
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
    with pytest.raises(Exception, match="another series"):
        clash.outcome()
    assert fine.outcome()[1].code == "INV-00001-F1"


@requires_postgres
def test_a_sequence_closing_while_a_batch_waits_for_the_lock_stops_that_batch(
        app, client, key, sequence):  # noqa: F811 (the fixture imported above)
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
        def record(store, entries, *args):
            written.append(len(entries))
            write_and_commit(store, entries, *args)
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
        queue = (db.engine, hash_api_key(key), ("id", SALES))
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


def test_the_database_keeps_an_entry_in_its_series_account(app, key, series, make_account):
    """What lets a unique (id, account) stand for a unique (series, id) as well."""
    first = ticket()
    write(app, key, [first])
    make_account("other", fiscal_id="555555550")
    with app.app_context():
        other = db.session.execute(text("SELECT id FROM accounts WHERE name = 'other'")).scalar()
        with pytest.raises(IntegrityError):
            db.session.execute(text(
                "INSERT INTO entries (id, series_id, account_id, number, code, sig, "
                "request_hash, created_at, updated_at) VALUES (:id, :series, :account, 2, "
                "'x', 'x', 'x', '2026-01-01', '2026-01-01')"),
                {"id": str(uuid.uuid4()), "series": SALES, "account": other})
        db.session.rollback()


def record_statements(app, key, batches):
    """Write ``batches`` (lists of tickets) one after another; the statements they sent,
    each with the id of the psycopg2 connection that sent it."""
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append((id(conn.connection.dbapi_connection), statement))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
    try:
        for tickets in batches:
            write(app, key, tickets)
            assert all(t.error is None for t in tickets), [t.error for t in tickets]
    finally:
        with app.app_context():
            event.remove(db.engine, "before_cursor_execute", record)
    return statements


@requires_postgres
def test_a_batch_on_postgresql_is_two_round_trips(app, key, series):
    """BEGIN, the lock and the read in one message; the entries, the counter and COMMIT in
    another (psycopg2 sends no BEGIN of its own: the store's connection is in autocommit)."""
    record_statements(app, key, [[ticket()]])  # the signing key, read once
    tickets = [ticket() for _ in range(3)]
    statements = [sql for _, sql in record_statements(app, key, [tickets])]
    assert [t.outcome()[1].number for t in tickets] == [2, 3, 4]
    assert len(statements) == 2
    assert statements[0].startswith(("BEGIN;", "PREPARE "))
    assert "EXECUTE invx_lock_id_" in statements[0] and statements[1].endswith("; COMMIT")


@requires_postgres
def test_each_connection_prepares_the_batch_statements_once(app, key, series):
    with app.app_context():
        db.engine.dispose()  # fresh connections, none of them prepared
    statements = record_statements(app, key, [[ticket()] for _ in range(6)])
    reads = [(connection, sql) for connection, sql in statements
             if "EXECUTE invx_lock_id_" in sql]
    assert len(reads) == 6
    first = {}
    for connection, sql in reads:
        first.setdefault(connection, sql)
    for connection, sql in reads:
        assert ("PREPARE invx_lock_id_" in sql) == (sql is first[connection])
    assert all("EXECUTE invx_counter_" in sql for _, sql in statements
               if sql.startswith("INSERT INTO entries"))


@requires_postgres
def test_a_connection_without_the_prepared_statements_goes_on_in_plain_sql(
        app, key, series, monkeypatch):
    """As behind PgBouncer in transaction mode: the statements prepared on one server
    connection are missing on the next. The batch is not refused; that connection then
    uses plain SQL."""
    record_statements(app, key, [[ticket()]])
    enter = batch_store.PostgresStore.__enter__

    def on_another_server_connection(self):
        enter(self)
        self.connection.exec_driver_sql("DEALLOCATE ALL")
        return self

    monkeypatch.setattr(batch_store.PostgresStore, "__enter__", on_another_server_connection)
    tickets = [[ticket()] for _ in range(3)]
    statements = [sql for _, sql in record_statements(app, key, tickets)]
    assert [t[0].outcome()[1].number for t in tickets] == [2, 3, 4]
    plain = [sql for sql in statements if "FOR UPDATE" in sql and "EXECUTE" not in sql]
    assert plain  # the batch whose EXECUTE missed was read again, in plain SQL
    assert any("UPDATE series SET last_number" in sql for sql in statements)


@requires_postgres
def test_statements_prepared_already_are_used(app, key, series, monkeypatch):
    """A connection whose batch failed after preparing them (or, behind PgBouncer, a server
    connection another client prepared them on) has them already: PREPARE fails, EXECUTE
    goes on."""
    record_statements(app, key, [[ticket()]])  # the signing key, read once
    enter = batch_store.PostgresStore.__enter__

    def prepared_unknown_to_the_pool(self):
        enter(self)
        self.info.pop(batch_store.PREPARED, None)
        self.connection.exec_driver_sql(f"DEALLOCATE ALL; {self.PREPARE}")
        return self

    monkeypatch.setattr(batch_store.PostgresStore, "__enter__", prepared_unknown_to_the_pool)
    tickets = [ticket()]
    statements = [sql for _, sql in record_statements(app, key, [tickets])]
    assert tickets[0].outcome()[1].number == 2
    tried = [n for n, sql in enumerate(statements)
             if sql.startswith("PREPARE ") and "; BEGIN; " in sql]
    assert len(tried) == 1  # refused: they exist (SQLSTATE 42P05); then, without PREPARE:
    read = "BEGIN; " + statements[tried[0]].partition("; BEGIN; ")[2]
    assert statements[tried[0] + 1:tried[0] + 3] == ["ROLLBACK", read]


def _many_small_accounts(connection, accounts, entries_each):
    """``accounts`` accounts of one series and ``entries_each`` entries each, in SQL."""
    connection.execute(text(
        "INSERT INTO accounts (name, country, fiscal_id, tax_authority, api_key_hash, "
        "created_at) SELECT 'small-' || i, 'ES', 'B1', 'none', md5('k' || i) || md5('h' || i), "
        "now() FROM generate_series(1, :n) AS i"), {"n": accounts})
    connection.execute(text(
        "INSERT INTO series (id, account_id, last_number, at_status, start, prefix, padding, "
        "suffix, created_at, updated_at) SELECT md5('s' || id)::uuid::text, id, 0, 'n/a', 1, "
        "'', 1, '', now(), now() FROM accounts WHERE name LIKE 'small-%'"))
    _fill(connection, "SELECT id, account_id FROM series WHERE id IN (SELECT md5('s' || id)::"
          "uuid::text FROM accounts WHERE name LIKE 'small-%')", entries_each)


def _fill(connection, series_query, count, first=1):
    """``count`` entries (not chained, not signed) in each series ``series_query`` gives,
    numbered from ``first``."""
    connection.execute(text(
        "INSERT INTO entries (id, series_id, account_id, number, code, sig, request_hash, "
        f"created_at, updated_at) SELECT gen_random_uuid()::text, s.id, s.account_id, i, "
        f"'x', 'x', 'x', now(), now() FROM ({series_query}) AS s, "
        "generate_series(:first, :first + :n - 1) AS i"), {"n": count, "first": first})


ARCHIVE = "0b8c2a6e-56b5-4c6c-9c1e-1a2b3c4d5e6f"


def _kept_plan(app, key, label, grow):
    """The plan of one of a batch's reads (``label`` in ``PostgresStore.STATEMENTS``) as a
    connection keeps it: made (the generic one, as from the sixth execution of a prepared
    statement) in a batch's transaction, then used once ``grow(connection)`` has added
    entries in that transaction. Returns the plan's node that reads entries."""
    ids = [str(uuid.uuid4()) for _ in range(16)]
    statement = batch_store.PostgresStore.STATEMENTS[label]
    with app.app_context(), batch_store.open_store() as store:
        series, _ = store.read(hash_api_key(key), ("id", SALES), ids)  # its transaction
        parameters = {"ref": SALES, "digest": hash_api_key(key), "ids": ids,
                      "account": series.account_id}
        connection = store.connection
        name = statement.prepare.split()[1]  # prepared anew: no plan from an earlier test
        connection.exec_driver_sql(f"DEALLOCATE {name}; {statement.prepare}; "
                                   "SET LOCAL plan_cache_mode = force_generic_plan")
        connection.exec_driver_sql(f"EXPLAIN {statement.execute}", parameters)
        grow(connection)
        plan = connection.exec_driver_sql(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {statement.execute}", parameters).scalar()
    return next(node for node in _plan_nodes(plan[0]["Plan"])
                if node.get("Relation Name") == "entries")


def _assert_found_by_id(scan):
    """An index scan, or a bitmap one, whose index condition holds the ids; no entry read
    only to be thrown away."""
    assert any("(id)::text = ANY" in node.get("Index Cond", "")
               for node in _plan_nodes(scan)), scan
    assert scan.get("Rows Removed by Filter", 0) == 0, scan


def _grow_archive(connection):
    _fill(connection, f"SELECT id, account_id FROM series WHERE id = '{ARCHIVE}'", 3000,
          first=1001)


@requires_postgres
@pytest.mark.parametrize("label", ["read_id", "used"])
def test_a_batch_finds_its_ids_by_id_however_large_its_account(app, key, series, client,
                                                               label):
    """With the account first in the unique index on entries, a generic plan (which sizes
    an account by the average one) walked all of a large account's entries at every batch,
    filtering them by id. The index is (id, account): it can only be probed by id."""
    put_series(client, {"Authorization": f"Bearer {key}"}, ARCHIVE, name="Archive",
               prefix="A-")
    with app.app_context(), db.engine.begin() as connection:
        _many_small_accounts(connection, accounts=200, entries_each=5)
        connection.execute(text("ANALYZE accounts; ANALYZE series; ANALYZE entries"))
    _assert_found_by_id(_kept_plan(app, key, label, _grow_archive))


@requires_postgres
@pytest.mark.parametrize("label", ["read_id", "used"])
def test_a_plan_made_while_the_table_was_small_still_finds_ids_by_id(app, key, series,
                                                                      client, label):
    """A plan made while the table was small (a new database, statistics not refreshed
    yet) is a sequential scan, which reads all of the table at every batch once it has
    grown: the store's transactions rule sequential scans out, so no plan of its statements
    is one."""
    put_series(client, {"Authorization": f"Bearer {key}"}, ARCHIVE, name="Archive",
               prefix="A-")
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE entries"))
        _fill(connection, f"SELECT id, account_id FROM series WHERE id = '{ARCHIVE}'", 100)
        connection.execute(text("ANALYZE entries"))
    _assert_found_by_id(_kept_plan(app, key, label, _grow_archive))


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


@requires_postgres
def test_a_batch_that_fails_after_its_lock_leaves_no_transaction_behind(app, key, series,
                                                                        monkeypatch):
    def broken_sign(*args):
        raise RuntimeError("the signature could not be made")

    monkeypatch.setattr(issuing.signing.jws, "sign", broken_sign)
    with pytest.raises(RuntimeError):
        write(app, key, [ticket()])
    monkeypatch.undo()
    with app.app_context(), db.engine.connect() as other:  # the series' row is free again
        other.execute(text("SELECT 1 FROM series WHERE id = :id FOR UPDATE NOWAIT"),
                      {"id": SALES})
        other.rollback()
        assert other.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%'")).scalar() == 0
    tickets = [ticket()]
    write(app, key, tickets)
    assert tickets[0].outcome()[1].number == 1  # and no number was lost
