"""The InvoiceXpress sequences: list, get, set the default, create, register what is missing.

Knows nothing of HTTP. A registration holds the sequence's lease (``registration.leases``),
so a second one, from any worker, is refused with 006 while the first runs, and one whose
worker died is taken over once the lease has expired; the AT work itself is
``registration.workflow``'s, and its failures become InvoiceXpress codes here.
"""
import logging
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import errors
from ..extensions import db
from ..models import Account, Sequence, Series, utcnow
from ..portugal.document_types import DOC_TYPES, series_format
from ..portugal.series_names import is_valid_serie, serie_key
from ..registration.adapters import open_adapter
from ..registration.leases import claim_lease, release_lease
from ..registration.workflow import RegistrationFailed, pending_series, register_pending
from ..tax_authority.base import TaxAuthorityError
from .at_errors import client_error

log = logging.getLogger(__name__)


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


def create_sequence(account, serie, settings, make_default=False):
    """Create the sequence ``serie`` and register its series with the Tax Authority.

    If registration fails and AT certainly holds nothing of it, the sequence is removed
    again, so the client can fix the cause and retry; otherwise it stays, partially
    registered, for ``register_missing`` to complete.
    """
    if not is_valid_serie(serie):
        raise errors.NameNotAllowed(f"serie {serie!r}")
    adapter = _adapter(account, settings)
    try:
        token = str(uuid.uuid4())
        sequence = _start_creation(account, serie, token, settings.registration_lease)
        try:
            if adapter is not None:
                register_pending(sequence, adapter, token, settings)
        except RegistrationFailed as failure:
            if _holds_nothing_at_at(sequence):
                db.session.delete(sequence)
                db.session.commit()
            else:
                _finish_creation(account, sequence, token, make_default=False)
            raise client_error(failure.cause) from failure.cause
        _finish_creation(account, sequence, token, make_default)
        return sequence
    finally:
        if adapter is not None:
            adapter.close()


def register_missing(account, public_id, settings):
    """Register the types of an existing sequence that have no code yet."""
    sequence = get_sequence(account, public_id)
    token = str(uuid.uuid4())
    if not claim_lease(sequence, token, settings.registration_lease):
        raise errors.BeingRegistered(f"sequence {public_id}")
    adapter = None
    try:
        if not pending_series(sequence):
            raise errors.AllRegistered(f"sequence {public_id}")
        adapter = _adapter(account, settings)
        register_pending(sequence, adapter, token, settings)
    except RegistrationFailed as failure:
        raise client_error(failure.cause) from failure.cause
    finally:
        if adapter is not None:
            adapter.close()
        release_lease(sequence, token)
    return sequence


def _adapter(account, settings):
    """The account's Tax Authority adapter (None outside Portugal), or the InvoiceXpress
    error of one that cannot be used."""
    try:
        return open_adapter(account, settings)
    except TaxAuthorityError as error:
        raise client_error(error) from error


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
                    at_status=Series.UNREGISTERED if relevant else Series.NOT_APPLICABLE,
                    last_number=0, **series_format(serie, doc_type)))
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


def _holds_nothing_at_at(sequence):
    """True when AT certainly has none of this sequence's series: it may be forgotten."""
    db.session.expire_all()
    return not any(s.at_status in (Series.REGISTERED, Series.FINISHED)
                   or (s.needs_registration and s.register_sent_at is not None)
                   for s in sequence.series)


