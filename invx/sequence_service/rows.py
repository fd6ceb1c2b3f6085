"""The rows that cross the batch path (store, issuing, the answer): named, never read by
position. Each is a NamedTuple, so a database row becomes one for the cost of a tuple, and
the store builds its SQL from the same field names, in the same order."""
from datetime import date
from typing import NamedTuple

from ..models import Entry


class EntryRow(NamedTuple):
    """An entry as the store reads and writes it, and as a request is answered with it."""

    id: str
    series_id: str
    number: int
    code: str
    meta: dict | None
    previous_id: str | None
    sig: str
    client_sig: str | None
    created_at: object
    updated_at: object
    request_hash: str
    pt: dict | None = None  # a signed Portuguese document's (pt_documents)

    sigs = Entry.sigs  # the server's signature, then the client's if it sent one


def entries_by_account_and_id(rows):
    """{(account id, entry id): EntryRow} of database rows of EntryRow's fields followed by
    the entry's account id (entry ids are unique within an account)."""
    width = len(EntryRow._fields)
    return {(row[width], row[0]): EntryRow._make(row[:width]) for row in rows}


class LockedSeries(NamedTuple):
    """The series a batch numbers, as read once its row lock was granted."""

    id: str
    number_id: int | None  # an InvoiceXpress sub-series' integer id
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
    pt_signed: bool  # a Sequence Service series' opt-in to Portuguese signatures
    last_pt_hash: str | None  # the Hash of its last signed document
    last_pt_invoice_date: object  # and its date (a date), or None
    api_key_hash: str
    account_name: str  # for the request's log lines
    account_fiscal_id: str  # the issuer's NIF, in a QR code
    document_key_version: int | None  # the account's document key that signs now
    closed_as: str | None  # of its InvoiceXpress sequence, read after the lock


# The series' own columns among LockedSeries' fields: the rest come from other tables.
SERIES_COLUMNS = LockedSeries._fields[:LockedSeries._fields.index("api_key_hash")]


class SeriesView(NamedTuple):
    """What an entry's answer needs of its series, read inside the entry's transaction."""

    id: str
    is_invoicexpress: bool
    doc_type: str | None
    validation_code: str | None
    at_status: str
    account: str | None = None  # the account's name (a LockedSeries has it), for the logs

    @classmethod
    def of(cls, series):
        """The view of a LockedSeries (or a Series row)."""
        return cls(series.id, series.sequence_pk is not None, series.doc_type,
                   series.validation_code, series.at_status,
                   getattr(series, "account_name", None))


class Counter(NamedTuple):
    """Where a batch leaves a series: its last number and entry, and its last signed
    document's Hash and date (unchanged when the batch signed none)."""

    last_number: int
    last_entry_id: str
    last_pt_hash: str | None
    last_pt_invoice_date: object

    @classmethod
    def after(cls, series, entries):
        signed = [entry.pt for entry in entries if entry.pt]
        if not signed:
            return cls(entries[-1].number, entries[-1].id, series.last_pt_hash,
                       series.last_pt_invoice_date)
        return cls(entries[-1].number, entries[-1].id, signed[-1]["hash"],
                   date.fromisoformat(signed[-1]["invoice_date"]))
