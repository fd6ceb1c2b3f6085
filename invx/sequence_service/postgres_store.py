"""The batch's reads and writes on PostgreSQL, in two or three round trips whatever the
batch holds (``store`` says what a batch reads and writes; this is how, on PostgreSQL,
cheaply)."""
import hashlib
import json
import re

from sqlalchemy.exc import DBAPIError

from ..extensions import db
from ..models import Sequence
from .rows import SERIES_COLUMNS, EntryRow, LockedSeries, entries_by_account_and_id

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
    # the series as they are once the locks are granted, their sequence's "closing"
    # included, and the ids already used in their accounts, one row each (an outer join: a
    # series comes back alone when there are none).
    # The series a batch wants (WANTED): $1 the UUIDs and $2 their keys' digests, $3 the
    # InvoiceXpress integer ids and $4 theirs; a series is found only under its account's
    # key. The locks are taken in one order, the series' primary key's, whatever the
    # batch holds: two batches that want some of the same series never wait for each
    # other (no deadlock across processes).
    # ``account_id + 0``: a series is found by its id (or number_id) index, entries by
    # their ids' index, never through another index that holds the account: entries'
    # (series_id, account_id, number), which would read every entry of the table to find
    # a few, or series' indexes led by the account. A generic plan made while the tables
    # are small (a new database, not analysed yet) costs them all the same, and PostgreSQL
    # took those (session 12: 0.3 to 0.6 times the throughput on 64 series after six runs
    # of 5 s, the database's CPU per request growing as the entries did).
    # (S608: the names are this module's constants; every value is a parameter.)
    WANTED = """SELECT s.id, s.account_id
  FROM unnest($1::varchar[], $2::varchar[]) AS w(ref, digest)
  JOIN accounts a ON a.api_key_hash = w.digest
  JOIN series s ON s.id = w.ref AND s.account_id + 0 = a.id
 UNION ALL
SELECT s.id, s.account_id
  FROM unnest($3::bigint[], $4::varchar[]) AS w(ref, digest)
  JOIN accounts a ON a.api_key_hash = w.digest
  JOIN series s ON s.number_id = w.ref AND s.account_id + 0 = a.id"""
    WANTS = ("ids", "id_digests", "numbers", "number_digests")
    STATEMENTS = _prepared({
        "lock": (f"""SELECT 1 FROM series
 WHERE (id, account_id) IN ({WANTED})
 ORDER BY account_id, id
   FOR UPDATE""", WANTS),  # noqa: S608
        "read": (f"""SELECT {
            ", ".join(f"s.{name}" for name in SERIES_COLUMNS)}, a.api_key_hash, a.name,
       q.closed_as,
       {", ".join(f"e.{name}" for name in EntryRow._fields)}, e.account_id
  FROM series s
  JOIN accounts a ON a.id = s.account_id
  LEFT JOIN sequences q ON q.pk = s.sequence_pk
  LEFT JOIN entries e ON e.account_id + 0 = s.account_id AND e.id = ANY($5::varchar[])
 WHERE (s.id, s.account_id) IN ({WANTED})
   AND (s.sequence_pk IS NULL OR q.state = '{Sequence.READY}')""",  # noqa: S608
                 (*WANTS, "entry_ids")),
        # The ids of the requests taken once the locks were granted: $1 the ids, $2 the
        # batch's accounts.
        "used": (f"SELECT {', '.join(EntryRow._fields)}, account_id FROM entries "  # noqa: S608
                 "WHERE id = ANY($1::varchar[]) AND account_id + 0 = ANY($2::bigint[])",
                 ("entry_ids", "accounts")),
        # Each series' counter: $1 the time, then its id, account, last number and id.
        "counters": ("""UPDATE series s
   SET last_number = u.last_number, last_entry_id = u.last_entry_id, updated_at = $1
  FROM unnest($2::varchar[], $3::bigint[], $4::bigint[], $5::varchar[])
       AS u(id, account_id, last_number, last_entry_id)
 WHERE s.id = u.id AND s.account_id + 0 = u.account_id""", ()),
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
    INSERT = f"INSERT INTO entries ({', '.join(EntryRow._fields)}, account_id) VALUES "  # noqa: S608
    ROW = "(" + ", ".join(["%s"] * (len(EntryRow._fields) + 1)) + ")"

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

    def read(self, groups, ids):
        """({group: LockedSeries} of the groups (API key digest, series lookup) whose series
        exist under that key, each row locked until the commit, {(account id, entry id):
        EntryRow} of the ``ids`` already used in their accounts)."""
        parameters = {**_wanted(groups), "entry_ids": ids}
        self.open = True
        prepared = self.info.get(PREPARED)
        while True:
            try:
                rows = self._read(parameters, prepared)
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
        width = len(LockedSeries._fields)
        by_lookup = {}
        for row in rows:
            series = LockedSeries._make(row[:width])
            by_lookup[series.api_key_hash, ("id", series.id)] = series
            if series.number_id is not None:
                by_lookup[series.api_key_hash, ("number_id", series.number_id)] = series
        found = {group: by_lookup[group] for group in groups if group in by_lookup}
        return found, entries_by_account_and_id(row[width:] for row in rows
                                                if row[width] is not None)

    def _read(self, parameters, prepared):
        lock, read = self.STATEMENTS["lock"], self.STATEMENTS["read"]
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

    def used(self, accounts, ids):
        """{(account id, entry id): EntryRow} of the ids already used in ``accounts``."""
        return entries_by_account_and_id(self.connection.exec_driver_sql(
            self._sql("used"), {"entry_ids": ids, "accounts": sorted(accounts)}))

    def write(self, writes, now):
        """Insert each series' entries, move its counter to the last of them, commit;
        ``writes`` is [(LockedSeries, [EntryRow])]."""
        writes = [(series, entries) for series, entries in writes if entries]
        sql, parameters = "COMMIT", []
        if writes:
            counters = ([], [], [], [])
            for series, entries in writes:
                for entry in entries:
                    meta = None if entry.meta is None else json.dumps(entry.meta)
                    parameters += (*entry._replace(meta=meta), series.account_id)
                for column, value in zip(counters, (series.id, series.account_id,
                                                    entries[-1].number, entries[-1].id),
                                         strict=True):
                    column.append(value)
            parameters += (now, *counters)
            rows = sum(len(entries) for _, entries in writes)
            sql = (f"{self.INSERT}{', '.join([self.ROW] * rows)}; "
                   f"{self._sql('counters')}; COMMIT")
        # On an error the server skips the rest of the message, COMMIT included: the
        # transaction stays open (and failed) for __exit__ to roll back.
        self.connection.exec_driver_sql(sql, tuple(parameters))
        self.open = False


def _wanted(groups):
    """The parameters of WANTED for ``groups`` [(API key digest, (column, reference))]."""
    wanted = {name: [] for name in PostgresStore.WANTS}
    for digest, (column, ref) in groups:
        refs, digests = (("ids", "id_digests") if column == "id" else
                         ("numbers", "number_digests"))
        wanted[refs].append(ref)
        wanted[digests].append(digest)
    return wanted
