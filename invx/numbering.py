"""Numbering: series and their gap-free, idempotent, chained and signed entries.

Knows nothing of HTTP. An entry is made in one transaction that locks its series' row (on
SQLite the whole database: every transaction begins IMMEDIATE): the idempotency check, the
next number, the chain link, the signature, the entry and the counter are all decided and
written under that lock, and committed together, or not at all.
"""
import hashlib
import json
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import errors, group_commit, signing
from .doctypes import BY_NAME
from .extensions import db
from .models import Entry, Sequence, Series, utcnow
from .secret_box import SecretKeyMissing, SecretUnreadable

MAX_ATTEMPTS = 3


def canonical_uuid(value, what="id"):
    """A UUID (any version) in its canonical lowercase form, or 422."""
    try:
        return str(uuid.UUID(value))
    except (ValueError, TypeError, AttributeError):
        raise errors.ApiInvalid(fields={what: "must be a UUID"}) from None


def request_hash(fields):
    """What makes two requests "the same body": SHA-256 of their canonical JSON."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def format_code(series, number):
    return f"{series.prefix}{number:0{series.padding}d}{series.suffix}"


def _visible(account):
    """The account's series: its own, and the sub-series of its created sequences."""
    return (select(Series).outerjoin(Sequence, Series.sequence_pk == Sequence.pk)
            .where(Series.account_id == account.id)
            .where((Series.sequence_pk.is_(None)) | (Sequence.state == Sequence.READY)))


def list_series(account):
    return db.session.scalars(_visible(account).order_by(Series.created_at, Series.id)).all()


def find_series(account, ref):
    """A series by its UUID or, for an InvoiceXpress sub-series, its integer id; or 404."""
    query = _visible(account)
    if isinstance(ref, str) and ref.isdigit():
        query = query.where(Series.number_id == int(ref)) if len(ref) < 19 else None
    else:
        try:
            query = query.where(Series.id == str(uuid.UUID(ref)))
        except (ValueError, TypeError, AttributeError):
            query = None
    series = db.session.scalar(query) if query is not None else None
    if series is None:
        raise errors.ApiNotFound("No such series.")
    return series


def create_series(account, series_id, fields):
    """Create a series under the client's UUID; the same request again returns it (200),
    a different one is a conflict (409). Returns the series."""
    series_id = canonical_uuid(series_id)
    digest = request_hash(fields)
    existing = db.session.get(Series, series_id)
    if existing is None:
        series = Series(id=series_id, account_id=account.id, request_hash=digest,
                        at_status=Series.NOT_APPLICABLE, name=fields["name"],
                        description=fields["description"], code=fields["code"],
                        prefix=fields["prefix"], padding=fields["padding"],
                        suffix=fields["suffix"], start=fields["start"],
                        last_number=fields["start"] - 1, client_sig=fields["sig"])
        db.session.add(series)
        try:
            db.session.commit()
            return series
        except IntegrityError:  # created concurrently: compare with the winner
            db.session.rollback()
            existing = db.session.get(Series, series_id)
    if existing is not None and existing.account_id == account.id \
            and existing.request_hash == digest:
        return existing
    raise errors.ApiConflict("A series with this id already exists with another definition.")


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
    sigs: list
    created_at: object
    updated_at: object
    request_hash: str


def _series_view(series):
    return SeriesView(series.id, series.is_invoicexpress, series.doc_type,
                      series.validation_code, series.at_status)


def _entry_view(entry):
    return EntryView(entry.id, entry.series_id, entry.number, entry.code, entry.meta,
                     entry.previous_id, entry.sigs, entry.created_at, entry.updated_at,
                     entry.request_hash)


def create_entry(account, series_ref, entry_id, meta, client_sig, secret_key):
    """The next entry of the series under the client's UUID, or the one that UUID already
    has there (same request: no new number). Gap-free whatever the concurrency.

    Concurrent requests for one series in this process are written together (group
    commit); each gets its own number, link and signature. Returns (SeriesView, EntryView).
    """
    entry_id = canonical_uuid(entry_id)
    digest = request_hash({"meta": meta or {}, "sig": client_sig})
    series_id, account_id = find_series(account, series_ref).id, account.id
    kid, key = _signer(secret_key)
    # The lookups end here, and the batch's transaction starts clean. (Read nothing from
    # an ORM object after this commit: it would be loaded again, one more query.)
    db.session.commit()
    ticket = group_commit.Ticket(entry_id, digest, meta, client_sig)

    def write_batch(tickets):
        _write_batch(account_id, series_id, tickets, kid, key)

    return group_commit.submit((_database(), series_id), ticket, write_batch)


def _database():
    return db.engine.url.render_as_string(hide_password=True)


def _write_batch(account_id, series_id, tickets, kid, key):
    """Write a batch in one transaction; on a conflict with another process, one by one."""
    try:
        _write_entries(account_id, series_id, tickets, kid, key)
        return
    except IntegrityError:
        # An id used at the same moment by another process, in another series of the
        # account: redo the requests one at a time, each under the lock.
        db.session.rollback()
    for ticket in tickets:
        for _ in range(MAX_ATTEMPTS):
            try:
                _write_entries(account_id, series_id, [ticket], kid, key)
                break
            except IntegrityError:
                db.session.rollback()
        else:
            ticket.error = errors.ApiConflict("This entry id is being used concurrently; retry.")


def _write_entries(account_id, series_id, tickets, kid, key):
    series = db.session.scalar(select(Series).where(Series.id == series_id).with_for_update()
                               .execution_options(populate_existing=True))
    try:
        _check_open(series)
    except errors.ApiError as error:
        for ticket in tickets:
            ticket.error = error
        return
    ids = {ticket.entry_id for ticket in tickets}
    existing = {entry.id: entry for entry in db.session.scalars(
        select(Entry).where(Entry.account_id == account_id, Entry.id.in_(ids)))}
    view = _series_view(series)
    made, answers, now = {}, [], utcnow()
    for ticket in tickets:
        earlier = existing.get(ticket.entry_id) or made.get(ticket.entry_id)
        if earlier is not None:
            if earlier.series_id != series.id:
                answers.append((ticket, errors.ApiConflict(
                    "This entry id is used in another series.")))
            elif earlier.request_hash != ticket.digest:
                answers.append((ticket, errors.ApiConflict(
                    "This entry id was used with another body.")))
            else:
                answers.append((ticket, earlier))
            continue
        number = series.last_number + 1
        code = format_code(series, number)
        payload = {"id": ticket.entry_id, "cid": series.id}
        if series.last_entry_id:
            payload["pid"] = series.last_entry_id
        payload.update(num=code, ts=int(time.time()))
        entry = Entry(id=ticket.entry_id, series_id=series.id, account_id=account_id,
                      number=number, code=code, meta=ticket.meta or None,
                      previous_id=series.last_entry_id,
                      sig=signing.jws.sign(key, kid, payload), client_sig=ticket.client_sig,
                      request_hash=ticket.digest, created_at=now, updated_at=now)
        db.session.add(entry)
        made[ticket.entry_id] = entry
        series.last_number, series.last_entry_id = number, ticket.entry_id
        answers.append((ticket, entry))
    if made:
        series.updated_at = now
    # Snapshots before the commit (which expires every object), answers only after it:
    # a request is told its number once that number is durable, never before.
    snapshots = [(ticket, answer if isinstance(answer, Exception) else _entry_view(answer))
                 for ticket, answer in answers]
    db.session.commit()
    for ticket, answer in snapshots:
        if isinstance(answer, Exception):
            ticket.error = answer
        else:
            ticket.result = (view, answer)


def _check_open(series):
    """InvoiceXpress sub-series number only while their sequence may issue documents."""
    if not series.is_invoicexpress:
        return
    sequence = db.session.scalar(select(Sequence).where(Sequence.pk == series.sequence_pk)
                                 .execution_options(populate_existing=True))
    if sequence.closed_as or series.at_status in (Series.FINISHED, Series.ANNULLED):
        db.session.rollback()
        raise errors.SeriesClosed(f"Series {series.code} was finished or annulled at AT: it "
                                  "issues no more documents.")
    if series.at_status == Series.UNREGISTERED:
        db.session.rollback()
        raise errors.SeriesNotRegistered(
            f"Series {series.code} is not registered with AT (its validation code is N/D): "
            "register it (PUT /sequences/:id/register.json) before issuing documents.")


def _signer(secret_key):
    try:
        return signing.signer(secret_key)
    except (SecretKeyMissing, SecretUnreadable) as error:
        db.session.rollback()
        raise errors.SigningUnavailable(
            "The server cannot sign entries: INVX_SECRET_KEY is not set or has changed.") \
            from error


def get_entry(account, series_ref, entry_id):
    series = find_series(account, series_ref)
    entry = db.session.scalar(select(Entry).where(Entry.series_id == series.id,
                                                  Entry.id == canonical_uuid(entry_id)))
    if entry is None:
        raise errors.ApiNotFound("No such entry in this series.")
    return series, entry


def list_entries(account, series_ref, limit, before=None):
    """A page of entries, newest first; ``before`` is the number the page starts below.
    Returns (series, entries, the number the next page starts below, or None)."""
    series = find_series(account, series_ref)
    query = select(Entry).where(Entry.series_id == series.id)
    if before is not None:
        query = query.where(Entry.number < before)
    entries = db.session.scalars(query.order_by(Entry.number.desc()).limit(limit + 1)).all()
    more = len(entries) > limit
    entries = entries[:limit]
    return series, entries, (entries[-1].number if more else None)


def atcud(series, entry):
    """The entry's ATCUD (``<validation code>-<n>``), for a registered Portuguese type."""
    doc_type = BY_NAME.get(series.doc_type)
    if doc_type is None or not doc_type.atcud_relevant or not series.validation_code:
        return None
    if series.at_status not in (Series.REGISTERED, Series.FINISHED):
        return None
    return f"{series.validation_code}-{entry.number}"
