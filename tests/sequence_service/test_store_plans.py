"""The plans PostgreSQL keeps for the batch's statements: ids found by id, a series by
its id, whatever the tables' sizes and statistics (a generic plan lasts a connection's
life)."""
import datetime
import uuid

import pytest
from sqlalchemy import text

from invx.auth import hash_api_key
from invx.extensions import db
from invx.sequence_service import postgres_statements, postgres_store
from invx.sequence_service.store import open_store

from ..support.postgres import requires_postgres
from ..support.sequence_service import SALES, put_series


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
        group = (hash_api_key(key), ("id", SALES))
        found, _ = store.read([group], ids)  # its transaction
        parameters = _parameters([group], ids, found[group].account_id)
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
@pytest.mark.parametrize("label", ["read_id", "read", "used"])
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
@pytest.mark.parametrize("label", ["read_id", "read", "used"])
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


def _parameters(groups, ids=(), account=None):
    """The parameters of the batch's statements for ``groups`` and the entry ``ids``: of
    those for several series, and of those for one (the first group's)."""
    (digest, (_, ref)), *_ = groups
    return {**postgres_statements.wanted(groups), "ref": ref, "digest": digest,
            "entry_ids": list(ids), "accounts": [account]}


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def _indexes_read(connection, statement, parameters, table):
    """The indexes through which the generic plan of ``statement`` (as a connection keeps
    it from its sixth execution) reads ``table``."""
    name = statement.prepare.split()[1]
    connection.exec_driver_sql(f"DEALLOCATE {name}; {statement.prepare}; "
                               "SET LOCAL plan_cache_mode = force_generic_plan")
    plan = connection.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement.execute}",
                                      parameters).scalar()
    scans = [node for node in _plan_nodes(plan[0]["Plan"])
             if node.get("Relation Name") == table and node.get("Node Type") != "ModifyTable"]
    assert scans
    return {node["Index Name"] for scan in scans for node in _plan_nodes(scan)
            if "Index Name" in node}


@requires_postgres
def test_a_batch_finds_its_series_by_its_id_not_by_its_account(app, key, series, client):
    """The generic plans of the lock and the counter read series through (account,
    created_at, id), every series of the account for one, once series ids were per account
    (session 12, bench.compare on 64 series: 0.6 times the throughput over six rounds).
    Now a series is only ever found by its id or its InvoiceXpress number id."""
    auth = {"Authorization": f"Bearer {key}"}
    for number in range(40):
        put_series(client, auth, str(uuid.uuid4()), name=f"S{number}")
    statements = postgres_store.PostgresStore.STATEMENTS
    with app.app_context(), open_store() as store:
        group = (hash_api_key(key), ("id", SALES))
        found = store.read([group], [])[0][group]  # its transaction
        connection = store.connection
        for_one, for_several = _parameters([group]), _parameters([group])
        for_one["ref"] = 17  # an InvoiceXpress id
        counter = (1, None, None, None, datetime.datetime(2026, 1, 1), SALES, found.account_id)
        counters = (datetime.datetime(2026, 1, 1), [SALES], [found.account_id], [1], [None],
                    [None], [None])
        indexes = {label: _indexes_read(connection, statements[label], parameters, "series")
                   for label, parameters in (
                       ("lock_id", for_several), ("lock_number_id", for_one),
                       ("read_id", for_several), ("read_number_id", for_one),
                       ("lock", for_several), ("read", for_several),
                       ("counter", counter), ("counters", counters))}
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
    assert indexes == {"lock_id": {"pk_series"}, "lock_number_id": {"uq_series_number_id"},
                       "read_id": {"pk_series"}, "read_number_id": {"uq_series_number_id"},
                       "lock": {"pk_series", "uq_series_number_id"},
                       "read": {"pk_series", "uq_series_number_id"},
                       "counter": {"pk_series"}, "counters": {"pk_series"}}
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
            group = (hash_api_key(key), ("id", SALES))
            found = store.read([group], [])[0][group]
            connection = store.connection
            parameters = _parameters([group], [str(uuid.uuid4())], found.account_id)
            indexes = {label: _indexes_read(connection, statements[label], parameters,
                                            "entries") for label in ("read_id", "read", "used")}
        with app.app_context():
            db.engine.dispose()
    finally:
        drop_postgres_schema(schema)
    assert indexes == {label: {"uq_entries_id_account_id"} for label in ("read_id", "read", "used")}

