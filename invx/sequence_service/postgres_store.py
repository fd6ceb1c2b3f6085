"""The batch's reads and writes on PostgreSQL, in two or three round trips whatever the
batch holds (``store`` says what a batch reads and writes; this is how, on PostgreSQL,
cheaply)."""
import json

from sqlalchemy.exc import DBAPIError

from ..extensions import db
from . import postgres_statements as sql
from .rows import Counter, LockedSeries, entries_by_account_and_id

# SQLSTATEs of a prepared statement that is not there, or is there already.
UNDEFINED_PREPARED, DUPLICATE_PREPARED = "26000", "42P05"
PREPARED = "invx_prepared"  # the key of a pooled connection's ``info`` (PostgresStore)


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

    STATEMENTS, PREPARE, BEGIN = sql.STATEMENTS, sql.PREPARE, sql.BEGIN
    INSERT, ROW = sql.INSERT, sql.ROW

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
        kind, parameters = sql.parameters(groups, ids)
        self.open = True
        prepared = self.info.get(PREPARED)
        while True:
            try:
                rows = self._read(kind, parameters, prepared)
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

    def _read(self, kind, parameters, prepared):
        lock, read = self.STATEMENTS[f"lock{kind}"], self.STATEMENTS[f"read{kind}"]
        message = (f"{self.BEGIN}; {lock.execute}; {read.execute}" if prepared else
                   f"{self.PREPARE}; {self.BEGIN}; {lock.execute}; {read.execute}"
                   if prepared is None else f"{self.BEGIN}; {lock.plain}; {read.plain}")
        rows = self.connection.exec_driver_sql(message, parameters).all()
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
        statement, parameters = "COMMIT", []
        for series, entries in writes:
            for entry in entries:
                parameters += (*entry._replace(meta=_json(entry.meta), pt=_json(entry.pt)),
                               series.account_id)
        if len(writes) == 1:
            (series, entries), = writes
            parameters += (*Counter.after(series, entries), now, series.id, series.account_id)
        elif writes:
            parameters += (now, *map(list, zip(*(
                (series.id, series.account_id, *Counter.after(series, entries))
                for series, entries in writes), strict=True)))
        if writes:
            rows = sum(len(entries) for _, entries in writes)
            counter = self._sql("counter" if len(writes) == 1 else "counters")
            statement = f"{self.INSERT}{', '.join([self.ROW] * rows)}; {counter}; COMMIT"
        # On an error the server skips the rest of the message, COMMIT included: the
        # transaction stays open (and failed) for __exit__ to roll back.
        self.connection.exec_driver_sql(statement, tuple(parameters))
        self.open = False


def _json(value):
    return None if value is None else json.dumps(value)
