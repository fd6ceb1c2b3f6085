"""The reads and writes of one batch of entries (``issuing`` decides what they hold).

A batch locks its series' row until the commit and reads the series and the entries its
ids already have in the account (``read``). Then ``issuing`` takes the requests that
queued while the lock was awaited, and looks up their ids as well (``used``), so that
they are in this batch rather than the next. Then it writes its entries, the series'
counter, and commits (``write``). Two ways:

- ``CoreStore``, any database (SQLite in practice): SQLAlchemy Core statements in the ORM
  session's transaction, one round trip each.
- ``PostgresStore`` (``postgres_store``): the same work in two round trips (three when
  requests came while the lock was awaited): ``BEGIN``, the lock and the read; the late
  requests' ids; the entries, the counter and ``COMMIT``. The connection is in autocommit
  mode, so psycopg2 sends no ``BEGIN`` of its own. On two shared cores a round trip costs
  about as much CPU as everything else a small batch does (session 5: one batch went from
  seven to three, the pool's ping included; see docs/performance.md). Its fixed statements
  are prepared once per connection, so PostgreSQL does not plan them at every batch.

Both take the same row lock and leave the same rows, so processes using either can number
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
from .rows import SERIES_COLUMNS, EntryRow, LockedSeries, entries_by_id
from .series import VISIBLE

SERIES, ENTRIES = Series.__table__, Entry.__table__
ACCOUNTS, SEQUENCES = Account.__table__, Sequence.__table__


def open_store():
    """The store for this app's database: a context manager, one batch's transaction."""
    return PostgresStore() if db.engine.dialect.name == "postgresql" else CoreStore()


class CoreStore:
    """SQLAlchemy Core in the session's transaction (on SQLite the whole database is
    locked: every transaction begins IMMEDIATE). Core, not the ORM: ``make profile`` showed
    the ORM's unit of work costing more than the database itself."""

    # The entries the batch's ids already have in the account.
    USED = (select(*(ENTRIES.c[name] for name in EntryRow._fields))
            .where(ENTRIES.c.id.in_(bindparam("ids", expanding=True)),
                   ENTRIES.c.account_id == bindparam("account")))
    # The series whose ``column`` is ``ref`` among those the account's clients can see,
    # locked (FOR UPDATE OF series) until the commit.
    LOCKED = {column: select(*(SERIES.c[name] for name in SERIES_COLUMNS),
                             ACCOUNTS.c.api_key_hash, ACCOUNTS.c.name)
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
        last_number=bindparam("last_number"), last_entry_id=bindparam("last_entry_id"),
        updated_at=bindparam("now"))

    def __enter__(self):
        self.connection = db.session.connection()
        return self

    def __exit__(self, *exc):
        if db.session().in_transaction():
            db.session.rollback()

    def read(self, key_digest, lookup, ids):
        """(LockedSeries or None, {id: EntryRow} of the ids already used), the series' row
        locked (on SQLite, the database) until the commit."""
        column, ref = lookup
        row = self.connection.execute(self.LOCKED[column],
                                      {"digest": key_digest, "ref": ref}).first()
        if row is None:
            return None, {}
        closed_as = None if row.sequence_pk is None else self.connection.execute(
            self.CLOSED_AS, {"pk": row.sequence_pk}).scalar()
        return LockedSeries(*row, closed_as), self.used(row, ids)

    def used(self, series, ids):
        """{id: EntryRow} of the ids already used in the series' account."""
        return entries_by_id(self.connection.execute(self.USED, {"account": series.account_id,
                                                          "ids": ids}))

    def write(self, entries, series, now):
        """Insert ``entries`` (EntryRows, with account ``series.account_id``), move the
        counter to the last of them, commit."""
        if entries:
            self.connection.execute(insert(ENTRIES), [
                {**entry._asdict(), "account_id": series.account_id} for entry in entries])
            self.connection.execute(self.COUNTER, {
                "series_id": series.id, "account": series.account_id,
                "last_number": entries[-1].number,
                "last_entry_id": entries[-1].id, "now": now})
        db.session.commit()
