"""Issuing entries: the next number of a series, gap-free, idempotent, chained and signed.

Knows nothing of HTTP. Everything an entry depends on is decided in the one transaction
that writes it (``store`` holds its statements). The series is read under its row
lock (on SQLite the whole database: every transaction begins IMMEDIATE), with the ids
already used; the API key is checked, and each entry's number, chain link and signature
made. Then come the entries, the counter and the commit. A request is answered only after
that commit. An id that another process used meanwhile is caught by a unique constraint,
and the batch is written again.

Concurrent requests for one series in this process share that transaction (group commit,
``group_commit``). A batch costs the same statements whatever its size.
"""
import hmac
import time

from sqlalchemy.exc import IntegrityError

from .. import errors, instruments
from ..auth import account_for_digest
from ..extensions import db
from ..models import Series, utcnow
from ..secret_box import SecretKeyMissing, SecretUnreadable
from . import group_commit, jws, signing, store
from .rows import EntryRow, SeriesView
from .series import format_code, request_hash, series_lookup

MAX_ATTEMPTS = 3


def issue_entry(key_digest, series_ref, entry_id, meta, client_sig, secret_key):
    """The next entry of the series ``series_ref`` (a UUID or an InvoiceXpress integer id)
    under the client's ``entry_id`` (a canonical UUID), or the entry that id already has
    there if the request is the same (no new number). ``key_digest`` is the digest of the
    API key the request came with, checked in the writing transaction. Returns
    (SeriesView, EntryRow); raises ApiUnauthorized, ApiNotFound, ApiConflict, ..."""
    lookup = series_lookup(series_ref)
    if lookup is None:  # names no series at all: 404, once the key is known good
        raise _unknown_series_error(key_digest)
    ticket = group_commit.Ticket(entry_id, request_hash({"meta": meta or {}, "sig": client_sig}),
                                 meta, client_sig)
    return group_commit.submit(
        (db.engine, key_digest, lookup), ticket,
        lambda batch: _write_batch(key_digest, lookup, batch, secret_key))


def _write_batch(key_digest, lookup, batch, secret_key):
    """Write a ``group_commit.Batch`` in one transaction; on a conflict with another
    process, one by one."""
    try:
        _write_entries(key_digest, lookup, batch, secret_key)
        return
    except IntegrityError:
        # An id another process used after this batch read the used ids (the INSERT hit a
        # unique constraint): redo the requests one at a time; each read now sees it.
        pass
    for ticket in batch.tickets:
        for _ in range(MAX_ATTEMPTS):
            try:
                _write_entries(key_digest, lookup, group_commit.Batch(tickets=[ticket]),
                               secret_key)
                break
            except IntegrityError:
                pass
        else:
            ticket.error = errors.ApiConflict("This entry id is being used concurrently; retry.")


def _write_entries(key_digest, lookup, batch, secret_key):
    """One transaction: every ticket gets its result or its error once it is committed.
    The requests that queued while the series' lock was awaited are taken into the batch
    once it is granted (one more read, for their ids)."""
    kid, private_key = _signer(secret_key)
    started = time.perf_counter()
    with store.open_store() as statements:
        batch.take()
        series, existing = statements.read(key_digest, lookup, _ids(batch.tickets))
        late = batch.take()
        if late and series is not None:
            existing.update(statements.used(series, _ids(late)))
        tickets = batch.tickets
        error = _refusal(key_digest, series)
        if error is None:
            now = utcnow()
            entries, answers = _number(series, existing, tickets, kid, private_key, now)
            statements.write(entries, series, now)
    if error is not None:
        if error is _UNKNOWN:  # looked up only now, the store's connection given back
            error = _unknown_series_error(key_digest)
        for ticket in tickets:
            ticket.error = error
        return
    instruments.batch_committed(_api(series), len(tickets), len(entries),
                                time.perf_counter() - started)
    # Only now, after the commit: a request is told its number once it is durable.
    view = SeriesView.of(series)
    for ticket, answer in answers:
        if isinstance(answer, Exception):
            ticket.error = answer
        else:
            ticket.result = (view, answer)


def _api(series):
    """The API whose series it is: an InvoiceXpress sequence's, or the Sequence Service's."""
    return "sequence_service" if series.sequence_pk is None else "invoicexpress"


def _ids(tickets):
    return sorted({ticket.entry_id for ticket in tickets})


_UNKNOWN = object()  # no such series for this key: 404 or 401, once the key is looked up


def _refusal(key_digest, series):
    """Why this batch gets no entries (an ApiError, or _UNKNOWN), or None."""
    if series is None or not hmac.compare_digest(series.api_key_hash, key_digest):
        return _UNKNOWN
    if series.sequence_pk is None:
        return None
    # An InvoiceXpress sub-series numbers only while its sequence may issue documents.
    if series.closed_as or series.at_status in (Series.FINISHED, Series.ANNULLED):
        return errors.SeriesClosed(f"Series {series.code} was finished or annulled at AT: it "
                                   "issues no more documents.")
    if series.at_status == Series.UNREGISTERED:
        return errors.SeriesNotRegistered(
            f"Series {series.code} is not registered with AT (its validation code is N/D): "
            "register it (PUT /sequences/:id/register.json) before issuing documents.")
    return None


def _number(series, existing, tickets, kid, private_key, now):
    """The batch's new entries (EntryRows), each with its number, chain link and signature,
    and each ticket's answer: its entry, the one its id already has, or a conflict."""
    timestamp = int(time.time())
    number, previous_id = series.last_number, series.last_entry_id
    entries, answers = [], []
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
        existing[ticket.entry_id] = entry = EntryRow(
            id=ticket.entry_id, series_id=series.id, number=number, code=code,
            meta=ticket.meta or None, previous_id=previous_id,
            sig=jws.sign(private_key, kid, payload), client_sig=ticket.client_sig,
            created_at=now, updated_at=now, request_hash=ticket.digest)
        entries.append(entry)
        answers.append((ticket, entry))
        previous_id = ticket.entry_id
    return entries, answers


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


def _signer(secret_key):
    """(kid, private key). What the signing keys' read began (every REFRESH_SECONDS) ends
    here, so the batch's transaction starts clean, and on PostgreSQL the request holds one
    connection at a time."""
    try:
        return signing.signer(secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise errors.SigningUnavailable(
            "The server cannot sign entries: INVX_SECRET_KEY is not set or has changed.") \
            from error
    finally:
        if db.session().in_transaction():
            db.session.rollback()
