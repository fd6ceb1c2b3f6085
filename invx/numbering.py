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

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import errors, signing
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


def create_entry(account, series_ref, entry_id, meta, client_sig, secret_key):
    """The next entry of the series under the client's UUID, or the one that UUID already
    has there (same request: no new number). Gap-free whatever the concurrency.
    Returns (series, entry)."""
    entry_id = canonical_uuid(entry_id)
    digest = request_hash({"meta": meta or {}, "sig": client_sig})
    series_id = find_series(account, series_ref).id
    kid, key = _signer(secret_key)
    db.session.commit()  # the lookups above end here: the entry's transaction starts clean
    for _ in range(MAX_ATTEMPTS):
        try:
            return _create_entry(account, series_id, entry_id, digest, meta, client_sig, kid,
                                 key)
        except IntegrityError:
            # Only a concurrent insert can get here (the same id in another series of the
            # account, at the same moment): look again, under the lock.
            db.session.rollback()
    raise errors.ApiConflict("This entry id is being used concurrently; retry.")


def _create_entry(account, series_id, entry_id, digest, meta, client_sig, kid, key):
    series = db.session.scalar(select(Series).where(Series.id == series_id).with_for_update()
                               .execution_options(populate_existing=True))
    existing = db.session.scalar(select(Entry).where(Entry.account_id == account.id,
                                                     Entry.id == entry_id))
    if existing is not None:
        db.session.commit()  # release the lock: nothing to write
        if existing.series_id != series.id:
            raise errors.ApiConflict("This entry id is used in another series.")
        if existing.request_hash != digest:
            raise errors.ApiConflict("This entry id was used with another body.")
        return series, existing
    _check_open(series)
    number = series.last_number + 1
    code = format_code(series, number)
    now = utcnow()
    payload = {"id": entry_id, "cid": series.id}
    if series.last_entry_id:
        payload["pid"] = series.last_entry_id
    payload.update(num=code, ts=int(time.time()))
    entry = Entry(id=entry_id, series_id=series.id, account_id=account.id, number=number,
                  code=code, meta=meta or None, previous_id=series.last_entry_id,
                  sig=signing.jws.sign(key, kid, payload), client_sig=client_sig,
                  request_hash=digest, created_at=now, updated_at=now)
    db.session.add(entry)
    series.last_number, series.last_entry_id, series.updated_at = number, entry_id, now
    db.session.commit()
    return series, entry


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
