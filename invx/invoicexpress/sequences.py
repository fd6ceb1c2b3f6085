"""The InvoiceXpress sequences: list, get, set the default, create, register what is missing.

Knows nothing of HTTP. A registration holds the sequence's lease (``registration.leases``),
so a second one, from any worker, is refused with 006 while the first runs, and one whose
worker died is taken over once the lease has expired; the AT work itself is
``registration.workflow``'s, and its failures become InvoiceXpress codes here.
"""
import logging
import math
import uuid
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from .. import errors
from ..extensions import db
from ..models import Sequence, Series, utcnow
from ..portugal.document_types import DOC_TYPES, series_format
from ..portugal.series_names import is_valid_serie, serie_key
from ..registration.adapters import open_adapter
from ..registration.creation import complete_creation
from ..registration.leases import claim_lease, release_lease
from ..registration.workflow import RegistrationFailed, pending_series, register_pending
from ..tax_authority.base import TaxAuthorityError
from .at_errors import client_error

log = logging.getLogger(__name__)


class SequencePage(NamedTuple):
    """A page of an account's sequences, and where it stands (InvoiceXpress's
    ``pagination``)."""

    sequences: list
    total_entries: int
    current_page: int
    per_page: int

    @property
    def total_pages(self):
        return math.ceil(self.total_entries / self.per_page)


def list_sequences(account, page, per_page):
    """The ``page``-th ``per_page`` of the account's sequences, oldest first (those still
    being created are not shown); a page past the last is empty."""
    ready = (Sequence.account_id == account.id, Sequence.state == Sequence.READY)
    total = db.session.scalar(select(func.count()).select_from(Sequence).where(*ready))
    offset = (page - 1) * per_page
    listed = []
    if offset < total:  # past the last page, no query (nor an offset no database takes)
        listed = db.session.scalars(
            select(Sequence).options(selectinload(Sequence.series)).where(*ready)
            .order_by(Sequence.pk).offset(offset).limit(per_page)).all()
    return SequencePage(listed, total, page, per_page)


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
    registered, for ``register_missing`` to complete (``registration.creation``). A serie
    whose registration failed and was annulled at AT is answered 002 without asking AT.
    """
    if not is_valid_serie(serie):
        raise errors.NameNotAllowed(f"serie {serie!r}")
    adapter = _adapter(account, settings)
    try:
        token = str(uuid.uuid4())
        sequence = _start_creation(account, serie, token, settings.registration_lease)
        try:
            complete_creation(account, sequence, adapter, token, settings, make_default)
        except RegistrationFailed as failure:
            raise client_error(failure.cause) from failure.cause
        return sequence
    finally:
        if adapter is not None:
            adapter.close()


def register_missing(account, public_id, settings):
    """Register the types of an existing sequence that have no code yet; a creation whose
    worker died (the sequence still being created, its lease run out) is completed."""
    sequence = _registrable(account, public_id)
    token = str(uuid.uuid4())
    if not claim_lease(sequence, token, settings.registration_lease):
        raise errors.BeingRegistered(f"sequence {public_id}")
    if sequence.state == Sequence.CREATING:
        log.warning("resuming the interrupted creation of sequence %s (%s) of %s",
                    sequence.id, sequence.serie, account.name)
        return _resume_creation(account, sequence, token, settings)
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


def _registrable(account, public_id):
    """The sequence ``register.json`` may work on: a ready one, or one still being created
    (shown to no one else until its creation completes)."""
    pk = Sequence.pk_for_id(public_id)
    sequence = db.session.get(Sequence, pk) if pk is not None else None
    if (sequence is None or sequence.account_id != account.id
            or sequence.state not in (Sequence.READY, Sequence.CREATING)):
        raise errors.SequenceNotFound(f"sequence {public_id}")
    return sequence


def _resume_creation(account, sequence, token, settings):
    try:
        adapter = _adapter(account, settings)
    except errors.InvxError:
        release_lease(sequence, token)
        raise
    try:
        complete_creation(account, sequence, adapter, token, settings)
    except RegistrationFailed as failure:
        raise client_error(failure.cause) from failure.cause
    finally:
        if adapter is not None:
            adapter.close()
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
    if existing.state in (Sequence.READY, Sequence.FAILED):
        raise errors.AlreadyExists(f"serie {serie!r}")
    if not claim_lease(existing, token, lease):
        raise errors.BeingRegistered(f"serie {serie!r}")
    log.warning("taking over the abandoned creation of sequence %s (%s) of %s",
                existing.id, existing.serie, account.name)
    return existing


def _find(account, key):
    return db.session.scalar(select(Sequence).where(
        Sequence.account_id == account.id, Sequence.serie_key == key))
