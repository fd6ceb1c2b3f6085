"""Issuing entries: the next number of a series, gap-free, idempotent, chained and signed.

Knows nothing of HTTP. Everything an entry depends on is decided in the one transaction
that writes it. The ids already used are read first. Then, under the series' row lock (on
SQLite the whole database: every transaction begins IMMEDIATE), the API key is checked,
the series found, and each entry's number, chain link and signature made. Then come the
entries, the counter and the commit. A request is answered only after that commit. An id
that another process used after the first read is caught by a unique constraint, and the
batch is written again.

Concurrent requests for one series in this process share that transaction (group commit,
``group_commit``). A batch costs the same statements whatever its size: the ids already
used; one that authenticates, finds and locks the series; one multi-row ``INSERT``; one
``UPDATE`` of the counter. It is written with SQLAlchemy Core, not the ORM, because this
is the hot path: ``make profile`` showed the ORM's unit of work costing more than the
database itself.
"""
import hmac
import time
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from . import errors, group_commit, signing
from .auth import account_for_digest
from .extensions import db
from .models import Account, Entry, Sequence, Series, utcnow
from .numbering import VISIBLE, format_code, request_hash, series_lookup
from .secret_box import SecretKeyMissing, SecretUnreadable

MAX_ATTEMPTS = 3
SERIES, ENTRIES = Series.__table__, Entry.__table__
ACCOUNTS, SEQUENCES = Account.__table__, Sequence.__table__
ENTRY_COLUMNS = [ENTRIES.c[name] for name in (
    "id", "series_id", "number", "code", "meta", "previous_id", "sig", "client_sig",
    "created_at", "updated_at", "request_hash")]

# The statements of a batch, built once. Parameters: digest (of the request's API key),
# ids, ref, pk, series_id, and the counter's new values.

# The entries the batch's ids already have in the account.
USED_IDS = (select(*ENTRY_COLUMNS)
            .join_from(ENTRIES, ACCOUNTS, ACCOUNTS.c.id == ENTRIES.c.account_id)
            .where(ACCOUNTS.c.api_key_hash == bindparam("digest"),
                   ENTRIES.c.id.in_(bindparam("ids", expanding=True))))


def _locked_series(column):
    """The series whose ``column`` is ``ref``, among those of the account that its clients
    can see, locked (FOR UPDATE OF series) until the commit."""
    return (select(SERIES.c.id, SERIES.c.account_id, SERIES.c.sequence_pk, SERIES.c.doc_type,
                   SERIES.c.validation_code, SERIES.c.at_status, SERIES.c.last_number,
                   SERIES.c.last_entry_id, SERIES.c.prefix, SERIES.c.padding, SERIES.c.suffix,
                   SERIES.c.code, ACCOUNTS.c.api_key_hash)
            .select_from(SERIES.join(ACCOUNTS, ACCOUNTS.c.id == SERIES.c.account_id)
                         .outerjoin(SEQUENCES, SEQUENCES.c.pk == SERIES.c.sequence_pk))
            .where(ACCOUNTS.c.api_key_hash == bindparam("digest"),
                   SERIES.c[column] == bindparam("ref"), VISIBLE)
            .with_for_update(of=SERIES))


LOCKED_SERIES = {column: _locked_series(column) for column in ("id", "number_id")}
CLOSED_AS = select(SEQUENCES.c.closed_as).where(SEQUENCES.c.pk == bindparam("pk"))
COUNTER = update(SERIES).where(SERIES.c.id == bindparam("series_id")).values(
    last_number=bindparam("new_last_number"), last_entry_id=bindparam("new_last_entry_id"),
    updated_at=bindparam("now"))


@dataclass(frozen=True)
class SeriesView:
    """What an entry's answer needs of its series, read inside the entry's transaction."""

    id: str
    is_invoicexpress: bool
    doc_type: str | None
    validation_code: str | None
    at_status: str


@dataclass(frozen=True)
class EntryView:
    """An entry as committed: plain data, safe to hand to the thread that asked for it."""

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

    sigs = Entry.sigs  # the server's signature, then the client's if it sent one


def issue_entry(key_digest, series_ref, entry_id, meta, client_sig, secret_key):
    """The next entry of the series ``series_ref`` (a UUID or an InvoiceXpress integer id)
    under the client's ``entry_id`` (a canonical UUID), or the entry that id already has
    there if the request is the same (no new number). ``key_digest`` is the digest of the
    API key the request came with, checked in the writing transaction. Returns
    (SeriesView, EntryView); raises ApiUnauthorized, ApiNotFound, ApiConflict, ..."""
    lookup = series_lookup(series_ref)
    if lookup is None:  # names no series at all: 404, once the key is known good
        raise _unknown_series_error(key_digest)
    ticket = group_commit.Ticket(entry_id, request_hash({"meta": meta or {}, "sig": client_sig}),
                                 meta, client_sig)
    return group_commit.submit(
        (db.engine, key_digest, lookup), ticket,
        lambda tickets: _write_batch(key_digest, lookup, tickets, secret_key))


def _write_batch(key_digest, lookup, tickets, secret_key):
    """Write a batch in one transaction; on a conflict with another process, one by one."""
    try:
        _write_entries(key_digest, lookup, tickets, secret_key)
        return
    except IntegrityError:
        # An id another process used after this batch read the used ids (the INSERT hit a
        # unique constraint): redo the requests one at a time; each read now sees it.
        db.session.rollback()
    for ticket in tickets:
        for _ in range(MAX_ATTEMPTS):
            try:
                _write_entries(key_digest, lookup, [ticket], secret_key)
                break
            except IntegrityError:
                db.session.rollback()
        else:
            ticket.error = errors.ApiConflict("This entry id is being used concurrently; retry.")


def _write_entries(key_digest, lookup, tickets, secret_key):
    """One transaction: every ticket gets its result or its error once it is committed."""
    kid, private_key = _signer(secret_key)
    connection = db.session.connection()
    # The ids already used are read before the lock, so the lock is held for less time.
    # An id used meanwhile by another process makes the INSERT fail on a unique
    # constraint, and _write_batch writes the batch again: that read then sees it.
    existing = _used_entries(connection, key_digest, tickets)
    column, ref = lookup
    series = connection.execute(LOCKED_SERIES[column],
                                {"digest": key_digest, "ref": ref}).first()
    error = _refusal(connection, key_digest, series)
    if error is not None:
        db.session.rollback()
        for ticket in tickets:
            ticket.error = error
        return
    now, timestamp = utcnow(), int(time.time())
    number, previous_id = series.last_number, series.last_entry_id
    rows, answers = [], []
    for ticket in tickets:
        earlier = existing.get(ticket.entry_id)
        if earlier is not None:
            answers.append((ticket, _replay(earlier, series.id, ticket)))
            continue
        number += 1
        code = format_code(series, number)
        payload = {"id": ticket.entry_id, "cid": series.id}
        if previous_id:
            payload["pid"] = previous_id
        payload.update(num=code, ts=timestamp)
        row = {"id": ticket.entry_id, "series_id": series.id, "account_id": series.account_id,
               "number": number, "code": code, "meta": ticket.meta or None,
               "previous_id": previous_id, "sig": signing.jws.sign(private_key, kid, payload),
               "client_sig": ticket.client_sig, "request_hash": ticket.digest,
               "created_at": now, "updated_at": now}
        rows.append(row)
        existing[ticket.entry_id] = entry = _entry_view(row)
        answers.append((ticket, entry))
        previous_id = ticket.entry_id
    if rows:
        connection.execute(insert(ENTRIES), rows)
        connection.execute(COUNTER, {"series_id": series.id, "new_last_number": number,
                                     "new_last_entry_id": previous_id, "now": now})
    db.session.commit()
    # Only now, after the commit: a request is told its number once it is durable.
    view = SeriesView(series.id, series.sequence_pk is not None, series.doc_type,
                      series.validation_code, series.at_status)
    for ticket, answer in answers:
        if isinstance(answer, Exception):
            ticket.error = answer
        else:
            ticket.result = (view, answer)


def _used_entries(connection, key_digest, tickets):
    """id -> EntryView of the batch's ids already used in the account."""
    rows = connection.execute(USED_IDS, {"digest": key_digest,
                                         "ids": sorted({t.entry_id for t in tickets})})
    return {row.id: _entry_view(row._mapping) for row in rows}


def _refusal(connection, key_digest, series):
    """Why this batch gets no entries (an ApiError), or None."""
    if series is None or not hmac.compare_digest(series.api_key_hash, key_digest):
        return _unknown_series_error(key_digest)
    if series.sequence_pk is None:
        return None
    # An InvoiceXpress sub-series numbers only while its sequence may issue documents.
    # Read in a statement of its own, after the lock: on PostgreSQL that statement sees a
    # "closing" committed while this one waited for the lock (lifecycle relies on it).
    closed_as = connection.execute(CLOSED_AS, {"pk": series.sequence_pk}).scalar()
    if closed_as or series.at_status in (Series.FINISHED, Series.ANNULLED):
        return errors.SeriesClosed(f"Series {series.code} was finished or annulled at AT: it "
                                   "issues no more documents.")
    if series.at_status == Series.UNREGISTERED:
        return errors.SeriesNotRegistered(
            f"Series {series.code} is not registered with AT (its validation code is N/D): "
            "register it (PUT /sequences/:id/register.json) before issuing documents.")
    return None


def _unknown_series_error(key_digest):
    """404 for a key that is good, 401 for one that is not (looked up only on this path)."""
    known = account_for_digest(key_digest) is not None
    db.session.rollback()
    return errors.ApiNotFound("No such series.") if known else errors.ApiUnauthorized()


def _replay(earlier, series_id, ticket):
    """The answer to a request whose id was used before: that entry, or a conflict."""
    if earlier.series_id != series_id:
        return errors.ApiConflict("This entry id is used in another series.")
    if earlier.request_hash != ticket.digest:
        return errors.ApiConflict("This entry id was used with another body.")
    return earlier


def _entry_view(values):
    return EntryView(*(values[column.name] for column in ENTRY_COLUMNS))


def _signer(secret_key):
    try:
        return signing.signer(secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        db.session.rollback()
        raise errors.SigningUnavailable(
            "The server cannot sign entries: INVX_SECRET_KEY is not set or has changed.") \
            from error
