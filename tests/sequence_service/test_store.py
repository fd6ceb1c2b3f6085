"""The store's statements on the database: round trips, prepared statements, plans that
find ids by id, and no transaction left behind."""
import datetime
import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from invx.auth import hash_api_key
from invx.extensions import db
from invx.sequence_service import issuing, postgres_store
from invx.sequence_service.store import open_store

from ..support.batches import ticket, write
from ..support.postgres import requires_postgres
from ..support.sequence_service import SALES, put_series


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
    enter = postgres_store.PostgresStore.__enter__

    def on_another_server_connection(self):
        enter(self)
        self.connection.exec_driver_sql("DEALLOCATE ALL")
        return self

    monkeypatch.setattr(postgres_store.PostgresStore, "__enter__", on_another_server_connection)
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
    enter = postgres_store.PostgresStore.__enter__

    def prepared_unknown_to_the_pool(self):
        enter(self)
        self.info.pop(postgres_store.PREPARED, None)
        self.connection.exec_driver_sql(f"DEALLOCATE ALL; {self.PREPARE}")
        return self

    monkeypatch.setattr(postgres_store.PostgresStore, "__enter__", prepared_unknown_to_the_pool)
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
    statement = postgres_store.PostgresStore.STATEMENTS[label]
    with app.app_context(), open_store() as store:
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

    monkeypatch.setattr(issuing.jws, "sign", broken_sign)
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


def _series_index(connection, statement, parameters):
    """The index the generic plan of ``statement`` reads series through."""
    name = statement.prepare.split()[1]
    connection.exec_driver_sql(f"DEALLOCATE {name}; {statement.prepare}; "
                               "SET LOCAL plan_cache_mode = force_generic_plan")
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement.execute}",
                                      parameters).scalar()
    return next(node.get("Index Name") for node in _plan_nodes(plan[0]["Plan"])
                if node.get("Relation Name") == "series" and "Index Name" in node)


@requires_postgres
def test_a_batch_finds_its_series_by_its_id_not_by_its_account(app, key, series, client):
    """The generic plans of the lock and the counter read series through (account,
    created_at, id), every series of the account for one, once series ids were per account
    (session 12, bench.compare on 64 series: 0.6 times the throughput over six rounds)."""
    auth = {"Authorization": f"Bearer {key}"}
    for number in range(40):
        put_series(client, auth, str(uuid.uuid4()), name=f"S{number}")
    statements = postgres_store.PostgresStore.STATEMENTS
    with app.app_context(), open_store() as store:
        found, _ = store.read(hash_api_key(key), ("id", SALES), [])  # its transaction
        connection = store.connection
        indexes = (_series_index(connection, statements["lock_id"],
                                 {"ref": SALES, "digest": hash_api_key(key)}),
                   _series_index(connection, statements["lock_number_id"],
                                 {"ref": 17, "digest": hash_api_key(key)}),
                   _series_index(connection, statements["counter"],
                                 (1, None, datetime.datetime(2026, 1, 1), SALES, found.account_id)))
        # The check of the foreign key from entries, at each entry written: PostgreSQL's own
        # statement, planned once per connection.
        connection.exec_driver_sql(
            "PREPARE invx_test_fk(text, bigint) AS SELECT 1 FROM ONLY series x WHERE id = $1 "
            "AND account_id = $2 FOR KEY SHARE OF x")
        plan = connection.exec_driver_sql(
            "EXPLAIN (FORMAT JSON) EXECUTE invx_test_fk(%s, %s)",
            (SALES, found.account_id)).scalar()
        foreign_key = next(node["Index Name"] for node in _plan_nodes(plan[0]["Plan"])
                           if "Index Name" in node)
        connection.exec_driver_sql("DEALLOCATE invx_test_fk")
    assert indexes == ("pk_series", "uq_series_number_id", "pk_series")
    assert foreign_key == "pk_series"


@requires_postgres
def test_on_a_new_database_a_batch_finds_entries_by_their_ids(tmp_path):
    """On a database never analysed (a new one: what bench.compare starts from), every
    index holding entries' account costs the same in a generic plan, and PostgreSQL read
    entries through (series_id, account_id, number): all of them, at every batch (session
    12: the database's CPU per request tripled over six runs). ``account_id + 0`` leaves
    it the ids' index only."""
    import flask_migrate

    from invx import create_app
    from invx.accounts import create_account

    from ..support.postgres import (
        create_postgres_schema,
        drop_postgres_schema,
        postgres_schema_url,
    )
    from ..support.settings import suite_settings
    schema = create_postgres_schema()
    try:
        app = create_app(suite_settings(postgres_schema_url(schema)), TESTING=True)
        with app.app_context():
            flask_migrate.upgrade()
            _, key = create_account("fresh", "ES", "B12345678", None, "none")
        put_series(app.test_client(), {"Authorization": f"Bearer {key}"})
        statements = postgres_store.PostgresStore.STATEMENTS
        with app.app_context(), open_store() as store:
            found, _ = store.read(hash_api_key(key), ("id", SALES), [])
            connection = store.connection
            ids = [str(uuid.uuid4())]
            indexes = {label: _entries_index(connection, statements[label], parameters)
                       for label, parameters in (
                           ("read_id", {"ref": SALES, "digest": hash_api_key(key), "ids": ids}),
                           ("used", {"ids": ids, "account": found.account_id}))}
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_postgres_schema(schema)
    assert indexes == {"read_id": "uq_entries_id_account_id", "used": "uq_entries_id_account_id"}


def _entries_index(connection, statement, parameters):
    name = statement.prepare.split()[1]
    connection.exec_driver_sql(f"DEALLOCATE {name}; {statement.prepare}; "
                               "SET LOCAL plan_cache_mode = force_generic_plan")
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement.execute}",
                                      parameters).scalar()
    scan = next(node for node in _plan_nodes(plan[0]["Plan"])
                if node.get("Relation Name") == "entries")
    return next(node["Index Name"] for node in _plan_nodes(scan) if "Index Name" in node)
