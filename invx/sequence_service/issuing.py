"""Issuing entries: the next number of a series, gap-free, idempotent, chained and signed.

Knows nothing of HTTP. Everything an entry depends on is decided in the one transaction
that writes it (``store`` holds its statements). The batch's series are read under their
row locks (on SQLite the whole database: every transaction begins IMMEDIATE), with the ids
already used; the API key is checked for each, and each entry's number, chain link and
signature made (``numbering``). Then come the entries, the counters and the commit. A
request is answered only after that commit. An id that another process used meanwhile is
caught by a unique constraint, and the batch is written again, one request at a time.

Concurrent requests in this process share that transaction, whatever their series (group
commit, ``group_commit``). A batch costs the same statements whatever its size and however
many series it holds. A series that may not number (unknown to the key, closed, not
registered) fails its own requests only.
"""
import collections
import time

from sqlalchemy.exc import DBAPIError, IntegrityError

from .. import errors, instruments
from ..auth import account_for_digest
from ..extensions import db
from ..models import utcnow
from ..secret_box import SecretKeyMissing, SecretUnreadable
from . import group_commit, numbering, pt_documents, signing, store
from .rows import SeriesView
from .series import request_hash, series_lookup

MAX_ATTEMPTS = 3


def issue_entry(key_digest, series_ref, entry_id, meta, client_sig, secret_key, pt=None):
    """The next entry of the series ``series_ref`` (a UUID or an InvoiceXpress integer id)
    under the client's ``entry_id`` (a canonical UUID), or the entry that id already has
    there if the request is the same (no new number). ``key_digest`` is the digest of the
    API key the request came with, checked in the writing transaction. Returns
    (SeriesView, EntryRow); raises ApiUnauthorized, ApiNotFound, ApiConflict, ..."""
    lookup = series_lookup(series_ref)
    if lookup is None:  # names no series at all: 404, once the key is known good
        raise _unknown_series_error(key_digest)
    body = {"meta": meta or {}, "sig": client_sig}
    if pt is not None:  # only then: the digests of the entries made before stay the same
        body["pt"] = pt
    ticket = group_commit.Ticket((key_digest, lookup), entry_id, request_hash(body), meta,
                                 client_sig, pt)
    return group_commit.submit(db.engine, ticket,
                               lambda batch: write_batch(batch, secret_key))


def write_batch(batch, secret_key):
    """Write a ``group_commit.Batch`` in one transaction; on a conflict with another
    process, one request at a time."""
    try:
        _write_entries(batch, secret_key)
        return
    except IntegrityError:
        # An id another process used after this batch read the used ids (the INSERT hit a
        # unique constraint): redo the requests one at a time; each read now sees it.
        pass
    except DBAPIError as error:
        # The locks are taken in one order, so no two batches wait for each other; but a
        # transaction of another kind may (PostgreSQL then ends one of them): again, one
        # at a time, which takes a single lock.
        if not store.is_deadlock(error):
            raise
    for ticket in batch.tickets:
        for _ in range(MAX_ATTEMPTS):
            try:
                _write_entries(group_commit.Batch(tickets=[ticket]), secret_key)
                break
            except IntegrityError:
                pass
        else:
            ticket.error = errors.ApiConflict("This entry id is being used concurrently; retry.")


def _write_entries(batch, secret_key):
    """One transaction: every ticket gets its result or its error once it is committed.
    The requests that queued while the locks were awaited are taken into the batch once
    they are granted (one more read, for their ids), if their series is one of its own."""
    signer = _signer(secret_key)
    started = time.perf_counter()
    with store.open_store() as statements:
        batch.take()
        groups = _grouped(batch.tickets)
        found, existing = statements.read(list(groups), _ids(batch.tickets))
        late = batch.take(groups=found.keys())
        if late:
            existing.update(statements.used({s.account_id for s in found.values()},
                                            _ids(late)))
            for ticket in late:
                groups[ticket.group].append(ticket)
        now, numbered, refused = utcnow(), [], {}
        for group, tickets in groups.items():
            series = found.get(group)
            refused[group] = numbering.refusal(group[0], series)
            if refused[group] is None:
                try:
                    document_signer = _document_signer(statements.connection, series,
                                                       secret_key)
                except errors.SigningUnavailable as error:  # this account's requests only
                    refused[group] = error
                    continue
                numbered.append((series, *numbering.number(series, existing, tickets,
                                                           signer, now, document_signer)))
        statements.write([(series, entries) for series, entries, _ in numbered], now)
    _refuse(groups, refused)
    issued = collections.Counter()
    for series, entries, _ in numbered:
        issued[_api(series)] += len(entries)
    instruments.batch_committed(len(batch.tickets), +issued, time.perf_counter() - started)
    # Only now, after the commit: a request is told its number once it is durable.
    for series, _, answers in numbered:
        view = SeriesView.of(series)
        for ticket, answer in answers:
            if isinstance(answer, Exception):
                ticket.error = answer
            else:
                ticket.result = (view, answer)


def _grouped(tickets):
    """{group: [tickets]}, the groups in the order their first request came."""
    groups = {}
    for ticket in tickets:
        groups.setdefault(ticket.group, []).append(ticket)
    return groups


def _refuse(groups, refused):
    """Give the requests of each refused group its error (once the store's connection is
    given back: an unknown series asks whether the key is good)."""
    unknown = {}
    for group, error in refused.items():
        if error is numbering.UNKNOWN:
            digest = group[0]
            if digest not in unknown:
                unknown[digest] = _unknown_series_error(digest)
            error = unknown[digest]
        if error is not None:
            for ticket in groups[group]:
                ticket.error = error


def _api(series):
    """The API whose series it is: an InvoiceXpress sequence's, or the Sequence Service's."""
    return "sequence_service" if series.sequence_pk is None else "invoicexpress"


def _ids(tickets):
    return sorted({ticket.entry_id for ticket in tickets})


def _unknown_series_error(key_digest):
    """404 for a key that is good, 401 for one that is not (looked up only on this path)."""
    known = account_for_digest(key_digest) is not None
    db.session.rollback()
    return errors.ApiNotFound("No such series.") if known else errors.ApiUnauthorized()


def _document_signer(connection, series, secret_key):
    """The Signer of the series' Portuguese documents, or None; SigningUnavailable when its
    account's document key cannot be opened."""
    try:
        return pt_documents.signer_for(connection, series, secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        raise errors.SigningUnavailable(
            "The server cannot sign this account's documents: INVX_SECRET_KEY is not set or "
            "has changed since its document key was stored.") from error


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
