"""An account's data as JSON lines, streamed from one read snapshot of the database.

Read in one transaction, so that the lines agree with each other while the server goes on
writing: REPEATABLE READ on PostgreSQL, a deferred BEGIN on SQLite (a WAL snapshot that
takes no write lock; the server's BEGIN IMMEDIATE would make its writers wait for the
whole export). Entries are fetched ``YIELD_PER`` at a time (a server-side cursor on
PostgreSQL), series by series through their (series, account, number) index: memory stays
the same for a million entries as for ten.

The lines, in order: the account; its InvoiceXpress sequences; each series followed by its
entries, by number; the account's calls to the Tax Authority; the public keys that sign
entries. ``rows`` builds each one.
"""
import contextlib
import json

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..extensions import READ_ONLY
from ..models import Account, AtCall, DocumentKey, Entry, Sequence, Series, SigningKey, utcnow
from ..tax_authority.audit import shown_outcome
from . import rows

YIELD_PER = 1000
PROGRESS_EVERY = 1000  # rows between two reports to ``progress``


@contextlib.contextmanager
def snapshot(engine):
    """A Session reading from one consistent snapshot, never writing; rolled back at the
    end."""
    options = {READ_ONLY: True}
    if engine.dialect.name == "postgresql":
        options.update(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    with engine.connect() as connection:
        connection.execution_options(**options)
        with Session(bind=connection, autoflush=False) as session:
            try:
                yield session
            finally:
                session.rollback()


class _Writer:
    """Writes rows as JSON lines, telling ``progress(done, total)`` now and then."""

    def __init__(self, write, total, progress):
        self.write, self.total, self.progress, self.done = write, total, progress, 0

    def __call__(self, row):
        self.write(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.done += 1
        if self.progress is not None and self.done % PROGRESS_EVERY == 0:
            self.progress(self.done, max(self.total, self.done))

    def finish(self):
        if self.progress is not None:
            self.progress(self.done, self.done)
        return self.done


def export_account(session, account_id, write, lease, progress=None):
    """Write the account's rows with ``write`` (text), one JSON object a line; returns how
    many. ``lease`` is the registration lease (an old pending AT call is shown as
    interrupted, as ``invx at-log`` shows it)."""
    account = session.get(Account, account_id)
    writer = _Writer(write, _expected_rows(session, account_id), progress)
    writer(rows.account_row(account))
    sequences = {}  # pk -> public id, for the series' lines
    for sequence in _stream(session, select(Sequence).where(Sequence.account_id == account_id)
                            .order_by(Sequence.pk)):
        sequences[sequence.pk] = sequence.id
        writer(rows.sequence_row(sequence, account.default_sequence_pk))
    for series in _stream(session, select(Series).where(Series.account_id == account_id)
                          .order_by(Series.created_at, Series.id)):
        writer(rows.series_row(series, sequences.get(series.sequence_pk)))
        for entry in _entries(session, series):
            writer(rows.entry_row(series, entry))
    now = utcnow()
    for call in _stream(session, select(AtCall).where(AtCall.account_id == account_id)
                        .order_by(AtCall.id)):
        writer(rows.at_call_row(call, shown_outcome(call, now, lease)))
    for key in _stream(session, select(DocumentKey).where(DocumentKey.account_id == account_id)
                       .order_by(DocumentKey.version)):
        writer(rows.document_key_row(key))
    for key in _stream(session, select(SigningKey).order_by(SigningKey.created_at)):
        writer(rows.signing_key_row(key))
    return writer.finish()


def _stream(session, statement):
    return session.scalars(statement.execution_options(yield_per=YIELD_PER))


def _entries(session, series):
    """The series' entries by number, as rows of the table: building ORM objects made an
    export of 200,000 entries take 1.5 to 2 times as long (33-38 s against 18-27 s on a
    busy machine, session 13)."""
    table = Entry.__table__
    return session.execute(
        select(table).where(table.c.series_id == series.id,
                            table.c.account_id == series.account_id)
        .order_by(table.c.number).execution_options(yield_per=YIELD_PER))


def _expected_rows(session, account_id):
    """How many rows the export will write, from the counters (entries are not counted
    one by one: their numbers are gap-free)."""
    entries = session.scalar(
        select(func.coalesce(func.sum(Series.last_number - Series.start + 1), 0))
        .where(Series.account_id == account_id, Series.last_number >= Series.start))
    counted = [session.scalar(select(func.count()).select_from(model).where(where))
               for model, where in ((Sequence, Sequence.account_id == account_id),
                                    (Series, Series.account_id == account_id),
                                    (AtCall, AtCall.account_id == account_id))]
    keys = session.scalar(select(func.count()).select_from(SigningKey))
    return 1 + int(entries) + sum(counted) + keys
