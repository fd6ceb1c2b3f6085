"""The Sequence Service's series: creating them, finding them, reading their entries
(``issuing`` makes the entries). Knows nothing of HTTP.
"""
import hashlib
import json
import uuid

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError

from .. import errors
from ..extensions import db
from ..models import Entry, Sequence, Series
from ..portugal import atcud as portuguese_atcud
from ..portugal.document_types import BY_NAME


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


# Which series clients see (with sequences outer-joined): their own, and the sub-series of
# sequences whose creation has finished.
VISIBLE = Series.sequence_pk.is_(None) | (Sequence.state == Sequence.READY)


def _visible(account):
    """The account's series: its own, and the sub-series of its created sequences."""
    return (select(Series).outerjoin(Sequence, Series.sequence_pk == Sequence.pk)
            .where(Series.account_id == account.id, VISIBLE))


def series_page_query(account, limit, after=None):
    """The query of up to ``limit`` of the account's series after ``after``, in order."""
    query = _visible(account)
    if after is not None:
        query = query.where(tuple_(Series.created_at, Series.id) > tuple_(*after))
    return query.order_by(Series.created_at, Series.id).limit(limit)


def list_series(account, limit, after=None):
    """A page of the account's series, oldest first (by creation, then id); ``after`` is
    the (created_at, id) of the series the page starts after. Returns (series, that of the
    page's last series when more follow, or None). The index on (account, created_at) serves
    the query: a page reads about ``limit`` + 1 rows, whatever the account's size (those of
    one creation time sorted by id)."""
    page = db.session.scalars(series_page_query(account, limit + 1, after)).all()
    more = len(page) > limit
    page = page[:limit]
    return page, ((page[-1].created_at, page[-1].id) if more else None)


def series_lookup(ref):
    """What a series reference names: ("id", a canonical UUID) or, for an InvoiceXpress
    sub-series, ("number_id", its integer id); None if it can name no series."""
    if isinstance(ref, str) and ref.isascii() and ref.isdigit():  # not "²" nor full-width digits
        return ("number_id", int(ref)) if len(ref) < 19 else None
    try:
        return "id", str(uuid.UUID(ref))
    except (ValueError, TypeError, AttributeError):
        return None


def find_series(account, ref):
    """A series by its UUID or, for an InvoiceXpress sub-series, its integer id; or 404."""
    lookup = series_lookup(ref)
    series = None
    if lookup is not None:
        column, value = lookup
        series = db.session.scalar(_visible(account).where(getattr(Series, column) == value))
    if series is None:
        raise errors.ApiNotFound("No such series.")
    return series


def create_series(account, series_id, fields):
    """Create a series under the client's UUID; the same request again returns it (200),
    a different one is a conflict (409). Returns the series. Ids are the account's own:
    another account's series of the same id is another series, and invisible."""
    series_id = canonical_uuid(series_id)
    digest = request_hash(fields)
    existing = db.session.get(Series, (series_id, account.id))
    if existing is None:
        series = Series(id=series_id, account_id=account.id, request_hash=digest,
                        at_status=Series.NOT_APPLICABLE, name=fields["name"],
                        description=fields["description"], code=fields["code"],
                        prefix=fields["prefix"], padding=fields["padding"],
                        suffix=fields["suffix"], start=fields["start"],
                        last_number=fields["start"] - 1, client_sig=fields["sig"],
                        pt_signed=fields.get("pt_signed", False))
        db.session.add(series)
        try:
            db.session.commit()
            return series
        except IntegrityError:  # created concurrently: compare with the winner
            db.session.rollback()
            existing = db.session.get(Series, (series_id, account.id))
    if existing is not None and existing.request_hash == digest:
        return existing
    raise errors.ApiConflict("A series with this id already exists with another definition.")


def get_entry(account, series_ref, entry_id):
    series = find_series(account, series_ref)
    entry = db.session.scalar(select(Entry).where(Entry.account_id == series.account_id,
                                                  Entry.series_id == series.id,
                                                  Entry.id == canonical_uuid(entry_id)))
    if entry is None:
        raise errors.ApiNotFound("No such entry in this series.")
    return series, entry


def list_entries(account, series_ref, limit, before=None):
    """A page of entries, newest first; ``before`` is the number the page starts below.
    Returns (series, entries, the number the next page starts below, or None)."""
    series = find_series(account, series_ref)
    query = select(Entry).where(Entry.series_id == series.id,
                                Entry.account_id == series.account_id)
    if before is not None:
        query = query.where(Entry.number < before)
    entries = db.session.scalars(query.order_by(Entry.number.desc()).limit(limit + 1)).all()
    more = len(entries) > limit
    entries = entries[:limit]
    return series, entries, (entries[-1].number if more else None)


def atcud_of(series, entry):
    """The entry's ATCUD (``<validation code>-<n>``), for a registered Portuguese type."""
    return atcud_for(series, entry.number)


def atcud_for(series, number):
    """The ATCUD of document ``number`` of ``series``, or None (no code, or no ATCUD type)."""
    doc_type = BY_NAME.get(series.doc_type)
    if doc_type is None or not doc_type.atcud_relevant or not series.validation_code:
        return None
    if series.at_status not in (Series.REGISTERED, Series.FINISHED):
        return None
    return portuguese_atcud.atcud(series.validation_code, number)
