"""The store's statements on the database: round trips, prepared statements, and no
transaction left behind (their plans: test_store_plans)."""
import uuid

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from invx.extensions import db
from invx.sequence_service import numbering, postgres_store

from ..support.batches import ticket, write
from ..support.postgres import requires_postgres
from ..support.sequence_service import SALES


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


@requires_postgres
def test_a_batch_that_fails_after_its_lock_leaves_no_transaction_behind(app, key, series,
                                                                        monkeypatch):
    def broken_sign(*args):
        raise RuntimeError("the signature could not be made")

    monkeypatch.setattr(numbering.jws, "sign", broken_sign)
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
