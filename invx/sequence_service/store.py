"""The reads and writes of one batch of entries (``issuing`` decides what they hold).

A batch holds the requests of one or more series (each named by an API key's digest and
a lookup: a "group"). It locks their rows until the commit and reads the series and the
entries its ids already have in their accounts (``read``). Then ``issuing`` takes the
requests for those series that queued while the locks were awaited, and looks up their
ids as well (``used``), so that they are in this batch rather than the next. Then it
writes the entries, each series' counter, and commits (``write``). Two ways:

- ``CoreStore``, any database (SQLite in practice): SQLAlchemy Core statements in the ORM
  session's transaction, one round trip each.
- ``PostgresStore`` (``postgres_store``): the same work in two round trips (three when
  requests came while the locks were awaited), however many series: ``BEGIN``, the locks
  (in the order of the series' primary key) and the read; the late requests' ids; the
  entries, the counters and ``COMMIT``. The connection is in autocommit
  mode, so psycopg2 sends no ``BEGIN`` of its own. On two shared cores a round trip costs
  about as much CPU as everything else a small batch does (session 5: one batch went from
  seven to three, the pool's ping included; see docs/performance.md). Its fixed statements
  are prepared once per connection, so PostgreSQL does not plan them at every batch.

Both take the same row locks and leave the same rows, so processes using either can number
one series together. Either way, an id that another process used meanwhile (in another
series of the account) makes the write fail on a unique constraint: ``issuing`` then
writes the batch again.

A store is a context manager: its transaction ends committed by ``write``, or is rolled
back when the block is left without it.
"""
from sqlalchemy import bindparam, insert, select, update

from ..extensions import db
from ..models import Account, Entry, Sequence, Series
from .postgres_store import PostgresStore
from .rows import SERIES_COLUMNS, Counter, EntryRow, LockedSeries, entries_by_account_and_id
from .series import VISIBLE

SERIES, ENTRIES = Series.__table__, Entry.__table__
DEADLOCK_DETECTED = "40P01"  # PostgreSQL's SQLSTATE
ACCOUNTS, SEQUENCES = Account.__table__, Sequence.__table__


def open_store():
    """The store for this app's database: a context manager, one batch's transaction."""
    return PostgresStore() if db.engine.dialect.name == "postgresql" else CoreStore()


class CoreStore:
    """SQLAlchemy Core in the session's transaction (on SQLite the whole database is
    locked: every transaction begins IMMEDIATE). Core, not the ORM: ``make profile`` showed
    the ORM's unit of work costing more than the database itself."""

    # The entries the batch's ids already have in its accounts.
    USED = (select(*(ENTRIES.c[name] for name in EntryRow._fields), ENTRIES.c.account_id)
            .where(ENTRIES.c.id.in_(bindparam("ids", expanding=True)),
                   ENTRIES.c.account_id.in_(bindparam("accounts", expanding=True))))
    # The series whose ``column`` is ``ref`` among those the account's clients can see,
    # locked (FOR UPDATE OF series) until the commit.
    LOCKED = {column: select(*(SERIES.c[name] for name in SERIES_COLUMNS),
                             ACCOUNTS.c.api_key_hash, ACCOUNTS.c.name, ACCOUNTS.c.fiscal_id,
                             ACCOUNTS.c.document_key_version)
              .select_from(SERIES.join(ACCOUNTS, ACCOUNTS.c.id == SERIES.c.account_id)
                           .outerjoin(SEQUENCES, SEQUENCES.c.pk == SERIES.c.sequence_pk))
              .where(ACCOUNTS.c.api_key_hash == bindparam("digest"),
                     SERIES.c[column] == bindparam("ref"), VISIBLE)
              .with_for_update(of=SERIES)
              for column in ("id", "number_id")}
    # Read in a statement of its own, after the lock: on PostgreSQL that statement sees a
    # "closing" committed while the lock was awaited (lifecycle relies on it).
    CLOSED_AS = select(SEQUENCES.c.closed_as).where(SEQUENCES.c.pk == bindparam("pk"))
    COUNTER = update(SERIES).where(SERIES.c.id == bindparam("series_id"),
                                   SERIES.c.account_id == bindparam("account")).values(
        **{name: bindparam(name) for name in Counter._fields}, updated_at=bindparam("now"))

    def __enter__(self):
        self.connection = db.session.connection()
        return self

    def __exit__(self, *exc):
        if db.session().in_transaction():
            db.session.rollback()

    def read(self, groups, ids):
        """({group: LockedSeries} of the groups (API key digest, series lookup) whose series
        exist under that key, {(account id, entry id): EntryRow} of the ``ids`` already
        used in their accounts), the rows locked (on SQLite, the database) until the
        commit. The series are read one by one, in the order of their lookups: this store
        is for SQLite, whose lock is the whole database's."""
        found = {}
        for group in sorted(groups, key=lambda group: (group[1][0], str(group[1][1]))):
            digest, (column, ref) = group
            row = self.connection.execute(self.LOCKED[column],
                                          {"digest": digest, "ref": ref}).first()
            if row is not None:
                closed_as = None if row.sequence_pk is None else self.connection.execute(
                    self.CLOSED_AS, {"pk": row.sequence_pk}).scalar()
                found[group] = LockedSeries(*row, closed_as)
        return found, self.used({series.account_id for series in found.values()}, ids)

    def used(self, accounts, ids):
        """{(account id, entry id): EntryRow} of the ids already used in ``accounts``."""
        if not accounts or not ids:
            return {}
        return entries_by_account_and_id(self.connection.execute(
            self.USED, {"accounts": sorted(accounts), "ids": ids}))

    def write(self, writes, now):
        """Insert each series' entries (EntryRows, in the series' account), move its
        counter to the last of them, commit; ``writes`` is [(LockedSeries, [EntryRow])]."""
        writes = [(series, entries) for series, entries in writes if entries]
        if writes:
            self.connection.execute(insert(ENTRIES), [
                {**entry._asdict(), "account_id": series.account_id}
                for series, entries in writes for entry in entries])
            self.connection.execute(self.COUNTER, [{
                "series_id": series.id, "account": series.account_id, "now": now,
                **Counter.after(series, entries)._asdict()} for series, entries in writes])
        db.session.commit()


def is_deadlock(error):
    """Whether a DBAPIError is PostgreSQL's ending a transaction caught in a deadlock."""
    return getattr(error.orig, "pgcode", None) == DEADLOCK_DETECTED
