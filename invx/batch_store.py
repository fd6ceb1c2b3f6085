"""The reads and writes of one batch of entries (``issuing`` decides what they hold).

A batch locks its series' row until the commit and reads the series and the entries its
ids already have in the account (``read``). Then ``issuing`` takes the requests that
queued while the lock was awaited, and looks up their ids as well (``used``), so that
they are in this batch rather than the next. Then it writes its entries, the series'
counter, and commits (``write``). Two ways:

- ``CoreStore``, any database (SQLite in practice): SQLAlchemy Core statements in the ORM
  session's transaction, one round trip each.
- ``PostgresStore``: the same work in two round trips (three when requests came while the
  lock was awaited): ``BEGIN``, the lock and the read; the late requests' ids; the
  entries, the counter and ``COMMIT``. The connection is in autocommit mode, so psycopg2
  sends no ``BEGIN`` of its own. On two shared cores a round trip costs about as much CPU
  as everything else a small batch does (session 5: one batch went from seven to three,
  the pool's ping included; see docs/performance.md). Its fixed statements are prepared
  once per connection, so PostgreSQL does not plan them at every batch.

Both take the same row lock and leave the same rows, so processes using either can number
one series together. Either way, an id that another process used meanwhile (in another
series of the account) makes the write fail on a unique constraint: ``issuing`` then
writes the batch again.

A store is a context manager: its transaction ends committed by ``write``, or is rolled
back when the block is left without it.
"""
import hashlib
import json
import re
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError

from .extensions import db
from .models import Account, Entry, Sequence, Series
from .numbering import VISIBLE

SERIES, ENTRIES = Series.__table__, Entry.__table__
ACCOUNTS, SEQUENCES = Account.__table__, Sequence.__table__
# An entry as ``read`` returns it, and as ``write`` takes it: values in this order.
ENTRY_FIELDS = ("id", "series_id", "number", "code", "meta", "previous_id", "sig",
                "client_sig", "created_at", "updated_at", "request_hash")
ID, NUMBER, META = (ENTRY_FIELDS.index(name) for name in ("id", "number", "meta"))
SERIES_FIELDS = ("id", "account_id", "sequence_pk", "doc_type", "validation_code",
                 "at_status", "last_number", "last_entry_id", "prefix", "padding", "suffix",
                 "code")


@dataclass(frozen=True)
class LockedSeries:
    """The series a batch numbers, as read once its row lock was granted."""

    id: str
    account_id: int
    sequence_pk: int | None
    doc_type: str | None
    validation_code: str | None
    at_status: str
    last_number: int
    last_entry_id: str | None
    prefix: str
    padding: int
    suffix: str
    code: str | None
    api_key_hash: str
    closed_as: str | None  # of its InvoiceXpress sequence, read after the lock


def _by_id(rows):
    """{id: entry values} of rows of ``ENTRY_FIELDS`` values."""
    return {row[ID]: tuple(row) for row in rows}


def open_store():
    return PostgresStore() if db.engine.dialect.name == "postgresql" else CoreStore()


class CoreStore:
    """SQLAlchemy Core in the session's transaction (on SQLite the whole database is
    locked: every transaction begins IMMEDIATE). Core, not the ORM: ``make profile`` showed
    the ORM's unit of work costing more than the database itself."""

    # The entries the batch's ids already have in the account.
    USED = (select(*(ENTRIES.c[name] for name in ENTRY_FIELDS))
            .where(ENTRIES.c.id.in_(bindparam("ids", expanding=True)),
                   ENTRIES.c.account_id == bindparam("account")))
    # The series whose ``column`` is ``ref`` among those the account's clients can see,
    # locked (FOR UPDATE OF series) until the commit.
    LOCKED = {column: select(*(SERIES.c[name] for name in SERIES_FIELDS),
                             ACCOUNTS.c.api_key_hash)
              .select_from(SERIES.join(ACCOUNTS, ACCOUNTS.c.id == SERIES.c.account_id)
                           .outerjoin(SEQUENCES, SEQUENCES.c.pk == SERIES.c.sequence_pk))
              .where(ACCOUNTS.c.api_key_hash == bindparam("digest"),
                     SERIES.c[column] == bindparam("ref"), VISIBLE)
              .with_for_update(of=SERIES)
              for column in ("id", "number_id")}
    # Read in a statement of its own, after the lock: on PostgreSQL that statement sees a
    # "closing" committed while the lock was awaited (lifecycle relies on it).
    CLOSED_AS = select(SEQUENCES.c.closed_as).where(SEQUENCES.c.pk == bindparam("pk"))
    COUNTER = update(SERIES).where(SERIES.c.id == bindparam("series_id")).values(
        last_number=bindparam("last_number"), last_entry_id=bindparam("last_entry_id"),
        updated_at=bindparam("now"))

    def __enter__(self):
        self.connection = db.session.connection()
        return self

    def __exit__(self, *exc):
        if db.session().in_transaction():
            db.session.rollback()

    def read(self, key_digest, lookup, ids):
        """(LockedSeries or None, {id: entry values} of the ids already used), the series'
        row locked (on SQLite, the database) until the commit."""
        column, ref = lookup
        row = self.connection.execute(self.LOCKED[column],
                                      {"digest": key_digest, "ref": ref}).first()
        if row is None:
            return None, {}
        closed_as = None if row.sequence_pk is None else self.connection.execute(
            self.CLOSED_AS, {"pk": row.sequence_pk}).scalar()
        return LockedSeries(*row, closed_as), self.used(row, ids)

    def used(self, series, ids):
        """{id: entry values} of the ids already used in the series' account."""
        return _by_id(self.connection.execute(self.USED, {"account": series.account_id,
                                                          "ids": ids}))

    def write(self, entries, series, now):
        """Insert ``entries`` (with account ``series.account_id``), move the counter to the
        last of them, commit."""
        if entries:
            self.connection.execute(insert(ENTRIES), [
                {**dict(zip(ENTRY_FIELDS, values, strict=True)),
                 "account_id": series.account_id} for values in entries])
            self.connection.execute(self.COUNTER, {
                "series_id": series.id, "last_number": entries[-1][NUMBER],
                "last_entry_id": entries[-1][ID], "now": now})
        db.session.commit()


# SQLSTATEs of a prepared statement that is not there, or is there already.
UNDEFINED_PREPARED, DUPLICATE_PREPARED = "26000", "42P05"
PREPARED = "invx_prepared"  # the key of a pooled connection's ``info`` (PostgresStore)


class _Prepared:
    """A statement with parameters $1, $2..., as SQL ``PREPARE`` and ``EXECUTE`` under
    ``name``, and as plain SQL for psycopg2, whose placeholders are ``%(name)s`` for the
    parameters ``names`` (in the order of their numbers) or, without names, ``%s`` in
    order of appearance."""

    def __init__(self, name, sql, names=()):
        def placeholder(number):
            return f"%({names[number - 1]})s" if names else "%s"

        self.prepare = f"PREPARE {name} AS {sql}"
        count = len(set(re.findall(r"\$(\d+)", sql)))
        self.execute = f"EXECUTE {name}(" + ", ".join(
            placeholder(number) for number in range(1, count + 1)) + ")"
        self.plain = re.sub(r"\$(\d+)", lambda match: placeholder(int(match[1])), sql)


def _prepared(statements):
    """{label: _Prepared} for {label: (sql, names)}. The names end in a digest of all the
    texts: a server connection that PgBouncer shares with another version of invx never
    runs that version's statement under this one's name, and has all of one version's
    statements (prepared in one message) or none."""
    version = hashlib.sha256(repr(sorted(statements.items())).encode()).hexdigest()[:12]
    return {label: _Prepared(f"invx_{label}_{version}", sql, names)
            for label, (sql, names) in statements.items()}


class PostgresStore:
    """Two or three round trips, SQL of its own, on a connection of its own in autocommit
    mode.

    Its fixed statements (the lock, the reads, the counter) are prepared on the server (SQL
    ``PREPARE``) in the first message a pooled connection sends, and run with ``EXECUTE``
    from then on: PostgreSQL then plans them once per connection instead of at every batch
    (planning was about half of its CPU for a batch of one). Where a connection cannot keep
    them (PgBouncer in transaction mode hands each transaction another server connection),
    the first ``EXECUTE`` that misses its statement turns that connection to plain SQL for
    good, and the batch goes on."""

    # The lock first; then, in a statement of its own (READ COMMITTED: a new snapshot),
    # the series as it is once the lock is granted, its sequence's "closing" included, and
    # the ids already used, one row each (an outer join: the series comes back alone when
    # there are none). $1 is the series' reference, $2 the key's digest, $3 the ids.
    # (S608: the names are this module's constants; every value is a parameter.)
    STATEMENTS = _prepared({
        **{f"lock_{column}": (f"""SELECT 1 FROM series
 WHERE {column} = $1
   AND account_id = (SELECT id FROM accounts WHERE api_key_hash = $2)
   FOR UPDATE""", ("ref", "digest")) for column in ("id", "number_id")},  # noqa: S608
        **{f"read_{column}": (f"""SELECT {
            ", ".join(f"s.{name}" for name in SERIES_FIELDS)}, a.api_key_hash, q.closed_as,
       {", ".join(f"e.{name}" for name in ENTRY_FIELDS)}
  FROM series s
  JOIN accounts a ON a.id = s.account_id
  LEFT JOIN sequences q ON q.pk = s.sequence_pk
  LEFT JOIN entries e ON e.account_id = s.account_id AND e.id = ANY($3)
 WHERE s.{column} = $1 AND a.api_key_hash = $2
   AND (s.sequence_pk IS NULL OR q.state = '{Sequence.READY}')""",  # noqa: S608
                                  ("ref", "digest", "ids")) for column in ("id", "number_id")},
        # The ids of the requests taken once the lock was granted. $1 the ids, $2 the account.
        "used": (f"SELECT {', '.join(ENTRY_FIELDS)} FROM entries "  # noqa: S608
                 "WHERE id = ANY($1) AND account_id = $2", ("ids", "account")),
        "counter": ("UPDATE series SET last_number = $1, last_entry_id = $2, updated_at = $3 "
                    "WHERE id = $4", ()),
    })
    PREPARE = "; ".join(statement.prepare for statement in STATEMENTS.values())
    # The transaction begins with sequential scans ruled out, so that every plan of these
    # statements is made with them ruled out: PostgreSQL keeps a prepared statement's plan
    # (a generic one from its sixth execution) for the connection's life, and a plan made
    # while a table was small would scan all of it at every batch once it is large (seen:
    # the database's CPU per request growing from 0.25 to 1.1 ms over six runs of 5 s on
    # one hot series). Each statement finds its rows through a unique index, which is the
    # right plan at any size. SET LOCAL ends with the transaction.
    BEGIN = "BEGIN; SET LOCAL enable_seqscan = off"
    INSERT = f"INSERT INTO entries ({', '.join(ENTRY_FIELDS)}, account_id) VALUES "  # noqa: S608
    ROW = "(" + ", ".join(["%s"] * (len(ENTRY_FIELDS) + 1)) + ")"

    def __enter__(self):
        self.connection = db.engine.connect()
        # Autocommit set on psycopg2's connection itself, not through SQLAlchemy's
        # isolation level, whose reset when the pool takes it back costs a call into libpq.
        self.connection.connection.driver_connection.autocommit = True
        self.open = False  # a transaction this store began and has not ended
        # Per server connection (the pool's ``info`` lasts as long as it): None until its
        # first batch, which prepares the statements; then True, or False for plain SQL.
        self.info = self.connection.connection.info
        return self

    def __exit__(self, *exc):
        try:
            if self.open and not self.connection.invalidated:
                self.connection.exec_driver_sql("ROLLBACK")
                self.open = False
        except Exception:  # noqa: S110 (the connection is dropped below; the error that
            pass           # brought us here, if any, is the one to report)
        finally:
            if self.open:
                # The state of the transaction begun by hand is unknown: the pool must not
                # hand this connection to anyone (its reset cannot end such a transaction).
                self.connection.invalidate()
            else:
                self.connection.connection.driver_connection.autocommit = False
            self.connection.close()

    def read(self, key_digest, lookup, ids):
        column, ref = lookup
        parameters = {"digest": key_digest, "ref": ref, "ids": ids}
        self.open = True
        prepared = self.info.get(PREPARED)
        while True:
            try:
                rows = self._read(column, parameters, prepared)
                break
            except DBAPIError as error:
                code = getattr(error.orig, "pgcode", None)
                if prepared is False or code not in (UNDEFINED_PREPARED, DUPLICATE_PREPARED):
                    raise
                # Roll back what began, then: statements there already (prepared by a batch
                # that failed after it, or by another client of PgBouncer's) are used;
                # statements missing (PgBouncer again) mean plain SQL on this connection.
                self.connection.exec_driver_sql("ROLLBACK")
                prepared = prepared is None and code == DUPLICATE_PREPARED
        if not rows:
            return None, {}
        width = len(SERIES_FIELDS) + 2
        return LockedSeries(*rows[0][:width]), _by_id(
            row[width:] for row in rows if row[width] is not None)

    def _read(self, column, parameters, prepared):
        lock, read = self.STATEMENTS[f"lock_{column}"], self.STATEMENTS[f"read_{column}"]
        sql = (f"{self.BEGIN}; {lock.execute}; {read.execute}" if prepared else
               f"{self.PREPARE}; {self.BEGIN}; {lock.execute}; {read.execute}"
               if prepared is None else f"{self.BEGIN}; {lock.plain}; {read.plain}")
        rows = self.connection.exec_driver_sql(sql, parameters).all()
        # Set only once it worked: the statements are known to be there from now on.
        self.info[PREPARED] = prepared is not False
        return rows

    def _sql(self, label):
        """The statement ``label``, as this connection runs it: prepared, or plain SQL."""
        statement = self.STATEMENTS[label]
        return statement.execute if self.info[PREPARED] else statement.plain

    def used(self, series, ids):
        """{id: entry values} of the ids already used in the series' account."""
        return _by_id(self.connection.exec_driver_sql(
            self._sql("used"), {"ids": ids, "account": series.account_id}))

    def write(self, entries, series, now):
        sql, parameters = "COMMIT", []
        if entries:
            for values in entries:
                meta = values[META]
                parameters += (*values[:META], None if meta is None else json.dumps(meta),
                               *values[META + 1:], series.account_id)
            parameters += (entries[-1][NUMBER], entries[-1][ID], now, series.id)
            sql = (f"{self.INSERT}{', '.join([self.ROW] * len(entries))}; "
                   f"{self._sql('counter')}; COMMIT")
        # On an error the server skips the rest of the message, COMMIT included: the
        # transaction stays open (and failed) for __exit__ to roll back.
        self.connection.exec_driver_sql(sql, tuple(parameters))
        self.open = False
