"""Creating InvoiceXpress sequences and registering their series with the Tax Authority.

Knows nothing of HTTP. The registration of a sequence is guarded by a lease in the
database (not in process memory), so a second registration of the same sequence, from any
worker, is refused with 006 while the first runs, and one whose worker died can be taken
over once the lease has expired. No database transaction is open while AT is called, and
every code AT hands out is committed the moment it arrives.
"""
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import errors
from .doctypes import BY_NAME, DOC_TYPES, DocType
from .extensions import db
from .fiscal import is_valid_serie, serie_key, today_in_portugal
from .models import Account, Sequence, Series, utcnow
from .tax_authority import adapter_for
from .tax_authority.base import (
    AlreadyRegisteredError,
    AuthenticationError,
    InvalidRequestError,
    NoActivityError,
    SeriesInfo,
    SeriesRegistration,
    TaxAuthorityError,
)

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 120
_STRUCTURE_ERRORS = (4000, 4002, 4003)  # AT's "the request is malformed" codes


def list_sequences(account):
    """The account's sequences, oldest first (those still being created are not shown)."""
    return db.session.scalars(
        select(Sequence).options(selectinload(Sequence.series))
        .where(Sequence.account_id == account.id, Sequence.state == Sequence.READY)
        .order_by(Sequence.pk)).all()


def get_sequence(account, public_id):
    """The account's sequence with this id; another account's id is not found either."""
    pk = Sequence.pk_for_id(public_id)
    sequence = db.session.get(Sequence, pk) if pk is not None else None
    if sequence is None or sequence.account_id != account.id or sequence.state != Sequence.READY:
        raise errors.SequenceNotFound(f"sequence {public_id}")
    return sequence


def set_default(account, public_id):
    """Make this sequence the account's default; every other one stops being it."""
    sequence = get_sequence(account, public_id)
    account.default_sequence_pk = sequence.pk
    db.session.commit()
    return sequence


def create_sequence(account, serie, make_default=False, config=None):
    """Create the sequence ``serie`` and register its series with the Tax Authority.

    If registration fails and AT certainly holds nothing of it, the sequence is removed
    again, so the client can fix the cause and retry; otherwise it stays, partially
    registered, for ``register_missing`` to complete.
    """
    config = config or {}
    if not is_valid_serie(serie):
        raise errors.NameNotAllowed(f"serie {serie!r}")
    adapter = tax_authority_for(account, config)
    try:
        token = str(uuid.uuid4())
        sequence = _start_creation(account, serie, token, lease_length(config))
        try:
            if adapter is not None:
                _register_pending(sequence, adapter, token, config)
        except errors.InvxError:
            if _holds_nothing_at_at(sequence):
                db.session.delete(sequence)
                db.session.commit()
                raise
            _finish_creation(account, sequence, token, make_default=False)
            raise
        _finish_creation(account, sequence, token, make_default)
        return sequence
    finally:
        if adapter is not None:
            adapter.close()


def register_missing(account, public_id, config=None):
    """Register the types of an existing sequence that have no code yet."""
    config = config or {}
    sequence = get_sequence(account, public_id)
    token = str(uuid.uuid4())
    if not claim_lease(sequence, token, lease_length(config)):
        raise errors.BeingRegistered(f"sequence {public_id}")
    adapter = None
    try:
        if not _pending(sequence):
            raise errors.AllRegistered(f"sequence {public_id}")
        adapter = tax_authority_for(account, config)
        _register_pending(sequence, adapter, token, config)
    finally:
        if adapter is not None:
            adapter.close()
        release_lease(sequence, token)
    return sequence


def tax_authority_for(account, config):
    """The account's Tax Authority adapter, or None for an account outside Portugal."""
    if not account.is_portuguese:
        return None
    try:
        adapter = adapter_for(account, config)
    except TaxAuthorityError as error:  # settings that cannot be used: no call was made
        log.error("the Tax Authority settings of %s cannot be used: %s", account.name,
                  error.message)
        raise _client_error(error) from error
    if not adapter.has_credentials:
        raise errors.InvalidCredentials(f"account {account.name} has no Tax Authority configured")
    return adapter


def lease_length(config):
    return timedelta(seconds=int(config.get("INVX_REGISTRATION_LEASE_SECONDS",
                                            DEFAULT_LEASE_SECONDS)))


def _start_creation(account, serie, token, lease):
    """Insert the sequence and its 15 series under our lease, or take over an abandoned one."""
    key = serie_key(serie)
    existing = _find(account, key)
    if existing is None:
        sequence = Sequence(account_id=account.id, serie=serie, serie_key=key,
                            state=Sequence.CREATING, lease_token=token,
                            lease_expires_at=utcnow() + lease)
        db.session.add(sequence)
        try:
            db.session.flush()
            for doc_type in DOC_TYPES:
                relevant = account.is_portuguese and doc_type.atcud_relevant
                db.session.add(Series(
                    id=str(uuid.uuid4()), account_id=account.id, sequence_pk=sequence.pk,
                    doc_type=doc_type.name, number_id=sequence.id + doc_type.offset,
                    at_status=Series.UNREGISTERED if relevant else Series.NOT_APPLICABLE))
            db.session.commit()
            return sequence
        except IntegrityError:
            # The same series was created concurrently: answer as if we had seen it first.
            db.session.rollback()
            existing = _find(account, key)
            if existing is None:
                raise
    if existing.state == Sequence.READY:
        raise errors.AlreadyExists(f"serie {serie!r}")
    if not claim_lease(existing, token, lease):
        raise errors.BeingRegistered(f"serie {serie!r}")
    log.warning("taking over the abandoned creation of sequence %s (%s) of %s",
                existing.id, existing.serie, account.name)
    return existing


def _finish_creation(account, sequence, token, make_default):
    sequence.state = Sequence.READY
    if make_default:
        account.default_sequence_pk = sequence.pk
    db.session.flush()
    # The first sequence of an account is its default; the condition makes it race-free.
    db.session.execute(
        update(Account).where(Account.id == account.id, Account.default_sequence_pk.is_(None))
        .values(default_sequence_pk=sequence.pk).execution_options(synchronize_session=False))
    release_lease(sequence, token)
    db.session.refresh(account)


def _find(account, key):
    return db.session.scalar(select(Sequence).where(
        Sequence.account_id == account.id, Sequence.serie_key == key))


def claim_lease(sequence, token, lease):
    """Take the sequence's lease unless another holder's has not expired; True if taken."""
    now = utcnow()
    result = db.session.execute(
        update(Sequence)
        .where(Sequence.pk == sequence.pk,
               or_(Sequence.lease_token.is_(None), Sequence.lease_expires_at < now))
        .values(lease_token=token, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def _renew(pk, token, lease):
    db.session.execute(
        update(Sequence).where(Sequence.pk == pk, Sequence.lease_token == token)
        .values(lease_expires_at=utcnow() + lease).execution_options(synchronize_session=False))


def release_lease(sequence, token):
    """Give the lease back (only if we still hold it) and reload the sequence."""
    db.session.execute(
        update(Sequence).where(Sequence.pk == sequence.pk, Sequence.lease_token == token)
        .values(lease_token=None, lease_expires_at=None)
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(sequence)


def _pending(sequence):
    """The series still to register, in the documented order of the types."""
    by_type = {s.doc_type: s for s in sequence.series if s.needs_registration}
    return [by_type[t.name] for t in DOC_TYPES if t.name in by_type]


def _holds_nothing_at_at(sequence):
    """True when AT certainly has none of this sequence's series: it may be forgotten."""
    db.session.expire_all()
    return not any(s.at_status in (Series.REGISTERED, Series.FINISHED)
                   or (s.needs_registration and s.register_sent_at is not None)
                   for s in sequence.series)


@dataclass
class _Job:
    """One document type to register: plain data, safe to hand to a worker thread."""

    series_id: str
    doc_type: DocType
    registration: SeriesRegistration
    resume: bool  # registarSerie may have reached AT before: ask AT first
    code: str | None = None


def _register_pending(sequence, adapter, token, config):
    """Register every type still without a code, concurrently; on failure undo this attempt.

    Codes are committed the moment each arrives. Before anything is sent, every type is
    marked as sent, so that if this worker dies the next attempt asks AT before sending.
    """
    pending = _pending(sequence)
    if not pending:
        return
    lease = lease_length(config)
    jobs = [_Job(series.id, BY_NAME[series.doc_type], SeriesRegistration(
        serie=sequence.serie, series_type=adapter.series_type,
        doc_class=BY_NAME[series.doc_type].at_class, doc_type=BY_NAME[series.doc_type].at_type,
        first_number=1, start_date=today_in_portugal(),
        software_certificate=adapter.software_certificate), series.register_sent_at is not None)
        for series in pending]
    pk = sequence.pk
    db.session.execute(update(Series).where(
        Series.id.in_([job.series_id for job in jobs]), Series.register_sent_at.is_(None))
        .values(register_sent_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()  # no transaction stays open while AT works

    got, failed = [], []
    for job, outcome in _concurrently(lambda job: _register_one(adapter, job), jobs,
                                      _concurrency(config), stop_on_error=True):
        if isinstance(outcome, SeriesInfo):
            job.code = outcome.validation_code
            _store(job.series_id, at_status=Series.REGISTERED, validation_code=job.code,
                   registered_at=utcnow(), registered_by=adapter.name)
            _renew(pk, token, lease)
            db.session.commit()
            got.append(job)
        elif outcome is None:  # skipped after a failure: AT never saw it
            _store(job.series_id, register_sent_at=None)
            db.session.commit()
        else:
            _log_refusal(job, outcome)
            failed.append((job, outcome))
    if not failed:
        return
    failed.sort(key=lambda item: DOC_TYPES.index(item[0].doc_type))
    unknown = []
    for job, error in failed:
        if isinstance(error, TaxAuthorityError) and not error.outcome_unknown and not job.resume:
            _store(job.series_id, register_sent_at=None)  # AT answered: it registered nothing
        else:
            unknown.append(job)
    db.session.commit()
    _compensate(adapter, got, unknown, config)
    error = failed[0][1]
    if not isinstance(error, TaxAuthorityError):
        raise errors.UnknownError(f"registration failed: {error.__class__.__name__}")
    raise _client_error(error) from error


def _register_one(adapter, job):
    """registarSerie, unless AT may already have it: then ask, and adopt an active one."""
    reg = job.registration
    if job.resume:
        found = adapter.query_series(reg.serie, reg.doc_class, reg.doc_type)
        if found:
            info = found[0]
            if info.state == "A":
                log.warning("adopting %s %s/%s from AT: it was registered by an attempt that "
                            "did not finish", reg.serie, reg.doc_class, reg.doc_type)
                return info
            raise AlreadyRegisteredError(
                f"AT already holds this series, in state {info.state}", 4001)
    return adapter.register_series(reg)


def _compensate(adapter, registered, unknown, config):
    """Annul this attempt's series at AT (reason ER), so a failure leaves nothing behind.

    For the types whose outcome is unknown (a timeout, a dropped connection), AT is asked
    first, and what it holds is annulled too. What it does not hold yet stays marked as
    sent: AT may still be working on the request that timed out, so a later attempt asks
    again (and adopts the code) rather than trusting this answer.
    """
    def undo(job):
        reg = job.registration
        code = job.code
        if code is None:
            found = [i for i in adapter.query_series(reg.serie, reg.doc_class, reg.doc_type)
                     if i.state == "A"]
            if not found:
                return None
            code = found[0].validation_code
        adapter.annul_series(reg.serie, reg.doc_class, reg.doc_type, code, reason="ER")
        return code

    for job, outcome in _concurrently(undo, registered + unknown, _concurrency(config)):
        reg = job.registration
        if isinstance(outcome, BaseException):
            log.error("could not undo %s %s/%s at AT (kept for a later attempt): %s", reg.serie,
                      reg.doc_class, reg.doc_type, getattr(outcome, "message", outcome))
            continue
        if outcome is not None:
            _store(job.series_id, at_status=Series.ANNULLED, validation_code=outcome,
                   registered_by=adapter.name)
            db.session.commit()


_SKIPPED = object()


def _concurrently(function, items, workers, stop_on_error=False):
    """Yield (item, result) as each call completes; an exception is yielded as the result.

    With ``stop_on_error``, once a call fails no further call starts (each checks before
    it would reach AT), and the calls that did not run are yielded with None. Every call
    that started is waited for, so no result is ever dropped.
    """
    if not items:
        return
    stop = threading.Event()

    def run(item):
        if stop.is_set():
            return _SKIPPED
        try:
            return function(item)
        except BaseException:
            if stop_on_error:
                stop.set()
            raise

    with ThreadPoolExecutor(max_workers=min(workers, len(items)),
                            thread_name_prefix="invx-at") as pool:
        futures = {pool.submit(run, item): item for item in items}
        for future in as_completed(futures):
            error = future.exception()
            result = error if error is not None else future.result()
            yield futures[future], None if result is _SKIPPED else result


def _store(series_id, **values):
    db.session.execute(update(Series).where(Series.id == series_id).values(**values)
                       .execution_options(synchronize_session=False))


def _log_refusal(job, error):
    reg = job.registration
    if isinstance(error, TaxAuthorityError):
        log.warning("AT refused %s %s/%s: %s %s", reg.serie, reg.doc_class, reg.doc_type,
                    error.code, error.message)
    else:
        log.error("registering %s %s/%s failed", reg.serie, reg.doc_class, reg.doc_type,
                  exc_info=error)


def _concurrency(config):
    return int(config.get("INVX_AT_CONCURRENCY", 6))


def _client_error(error):
    """The InvoiceXpress error a Tax Authority failure is reported as."""
    detail = f"AT {error.code}: {error.message}"
    if isinstance(error, AuthenticationError):
        return errors.InvalidCredentials(detail)
    if isinstance(error, NoActivityError):
        return errors.NoOpenActivity(detail)
    if isinstance(error, AlreadyRegisteredError):
        return errors.AlreadyExists(detail)
    if isinstance(error, InvalidRequestError) and error.code in _STRUCTURE_ERRORS:
        return errors.InvalidSequence(detail)
    return errors.UnknownError(detail)
