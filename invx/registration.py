"""Creating InvoiceXpress sequences and registering their series with the Tax Authority.

Knows nothing of HTTP. The registration of a sequence is guarded by a lease in the
database (not in process memory), so a second registration of the same sequence, from any
worker, is refused with 006 while the first runs, and one whose worker died can be taken
over once the lease has expired. No database transaction is open while AT is called, and
every code AT hands out is committed the moment it arrives.
"""
import logging
import uuid
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from . import errors
from .doctypes import BY_NAME, DOC_TYPES
from .extensions import db
from .fiscal import is_valid_serie, serie_key, today_in_portugal
from .models import Account, Sequence, Series, utcnow
from .tax_authority import adapter_for
from .tax_authority.base import (
    AlreadyRegisteredError,
    AuthenticationError,
    InvalidRequestError,
    NoActivityError,
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

    If registration fails and no code was kept, the sequence is removed again, so the
    client can fix the cause and retry; if some codes could not be annulled, the sequence
    stays, partially registered, for ``register_missing`` to complete.
    """
    config = config or {}
    if not is_valid_serie(serie):
        raise errors.NameNotAllowed(f"serie {serie!r}")
    adapter = _adapter(account, config)
    token = str(uuid.uuid4())
    sequence = _start_creation(account, serie, token, _lease(config))
    try:
        _register_pending(sequence, adapter, token, _lease(config))
    except errors.InvxError:
        if not any(s.validation_code and s.at_status == Series.REGISTERED for s in sequence.series):
            db.session.delete(sequence)
            db.session.commit()
            raise
        _finish_creation(account, sequence, token, make_default=False)
        raise
    _finish_creation(account, sequence, token, make_default)
    return sequence


def register_missing(account, public_id, config=None):
    """Register the types of an existing sequence that have no code yet."""
    config = config or {}
    sequence = get_sequence(account, public_id)
    token = str(uuid.uuid4())
    if not _claim(sequence, token, _lease(config)):
        raise errors.BeingRegistered(f"sequence {public_id}")
    try:
        if not _pending(sequence):
            raise errors.AllRegistered(f"sequence {public_id}")
        _register_pending(sequence, _adapter(account, config), token, _lease(config))
    finally:
        _release(sequence, token)
    return sequence


def _adapter(account, config):
    if not account.is_portuguese:
        return None
    adapter = adapter_for(account, config)
    if not adapter.has_credentials:
        raise errors.InvalidCredentials(f"account {account.name} has no Tax Authority configured")
    return adapter


def _lease(config):
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
    if not _claim(existing, token, lease):
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
    _release(sequence, token)
    db.session.refresh(account)


def _find(account, key):
    return db.session.scalar(select(Sequence).where(
        Sequence.account_id == account.id, Sequence.serie_key == key))


def _claim(sequence, token, lease):
    now = utcnow()
    result = db.session.execute(
        update(Sequence)
        .where(Sequence.pk == sequence.pk,
               or_(Sequence.lease_token.is_(None), Sequence.lease_expires_at < now))
        .values(lease_token=token, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def _renew(sequence, token, lease):
    db.session.execute(
        update(Sequence).where(Sequence.pk == sequence.pk, Sequence.lease_token == token)
        .values(lease_expires_at=utcnow() + lease).execution_options(synchronize_session=False))


def _release(sequence, token):
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


def _register_pending(sequence, adapter, token, lease):
    """Register every type still without a code; on failure annul what this attempt got."""
    pending = _pending(sequence)
    if not pending:
        return
    account_name = sequence.account.name
    got = []
    for series in pending:
        doc_type = _doc_type(series)
        registration = SeriesRegistration(
            serie=sequence.serie, series_type="N", doc_class=doc_type.at_class,
            doc_type=doc_type.at_type, first_number=1, start_date=today_in_portugal())
        db.session.commit()  # never hold a transaction while AT works
        try:
            info = adapter.register_series(registration)
        except TaxAuthorityError as error:
            log.warning("AT refused %s %s/%s of %s: %s %s", registration.serie,
                        doc_type.at_class, doc_type.at_type, account_name, error.code,
                        error.message)
            _compensate(sequence, adapter, got)
            raise _client_error(error) from error
        series.validation_code = info.validation_code
        series.at_status = Series.REGISTERED
        series.registered_at = utcnow()
        _renew(sequence, token, lease)
        db.session.commit()
        got.append(series)


def _compensate(sequence, adapter, registered):
    """Annul the series this attempt registered, so a failure leaves nothing behind at AT."""
    for series in registered:
        doc_type = _doc_type(series)
        serie, code = sequence.serie, series.validation_code
        db.session.commit()  # read first: touching an expired attribute would begin anew
        try:
            adapter.annul_series(serie, doc_type.at_class, doc_type.at_type, code, reason="ER")
        except TaxAuthorityError as error:
            log.error("could not annul %s %s/%s (code kept): %s %s", serie,
                      doc_type.at_class, doc_type.at_type, error.code, error.message)
            continue
        series.at_status = Series.ANNULLED
        db.session.commit()


def _doc_type(series):
    return BY_NAME[series.doc_type]


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
