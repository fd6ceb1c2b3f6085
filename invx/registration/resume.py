"""Registrations whose worker died, resumed without waiting for a client.

A registration holds its sequence's lease while it works; a worker that dies mid-way keeps
it until it expires (``INVX_REGISTRATION_LEASE_SECONDS``). AT may by then hold codes that
invx never recorded (and audit records left pending). Once the lease has run out, anyone may
take it over: ``resume_one`` does, asks AT about every type that was sent
(consultarSeries), adopts the codes AT gave, registers the types never sent, and completes
the creation the dead worker was making (or the missing types of a ``register.json``).

Who runs it: the workers, at most every ``INVX_RESUME_CHECK_SECONDS`` while they serve
requests (``PeriodicCheck``, set up by ``create_app``), and ``invx registrations resume``,
for an operator's timer. Two of them at once are harmless: the lease goes to one.
"""
import logging
import threading
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Sequence, Series, utcnow
from ..portugal.document_types import ID_SPACING
from ..tax_authority.base import TaxAuthorityError
from .adapters import open_adapter
from .creation import complete_creation
from .leases import abandoned, release_lease, take_over_lease
from .workflow import RegistrationFailed, register_pending

log = logging.getLogger(__name__)

RESUMED, FAILED, SKIPPED = "resumed", "failed", "skipped"


@dataclass(frozen=True)
class Resumed:
    """What resuming one sequence's registration did, for a person to read."""

    account: str
    serie: str
    sequence_id: int
    status: str  # RESUMED, FAILED or SKIPPED
    detail: str


def interrupted(account_id=None):
    """The primary keys of the sequences whose registration was interrupted (``abandoned``:
    their lease ran out), oldest first."""
    query = select(Sequence.pk).where(abandoned(utcnow()))
    if account_id is not None:
        query = query.where(Sequence.account_id == account_id)
    pks = db.session.scalars(query.order_by(Sequence.pk)).all()
    db.session.commit()
    return pks


def resume_one(pk, settings):
    """Take over the sequence's expired lease and finish its registration."""
    sequence = db.session.get(Sequence, pk)
    if sequence is None:
        db.session.commit()
        return None
    account = sequence.account
    done = _outcome(account.name, sequence.serie, sequence.id)
    try:
        adapter = open_adapter(account, settings)
    except TaxAuthorityError as error:
        db.session.commit()
        return done(FAILED, f"the Tax Authority cannot be used: {error.message}")
    token = str(uuid.uuid4())
    try:
        if not take_over_lease(pk, token, settings.registration_lease):
            return done(SKIPPED, "no longer interrupted: completed or taken over meanwhile")
        creating = sequence.state == Sequence.CREATING  # read again, under our lease
        log.warning("resuming the interrupted registration of sequence %s (%s) of %s",
                    sequence.id, sequence.serie, account.name)
        before = _registered(sequence)
        try:
            if creating:
                complete_creation(account, sequence, adapter, token, settings)
            else:
                _register_missing(sequence, adapter, token, settings)
        except RegistrationFailed as failure:
            return done(FAILED, "registration failed: " + _reason(failure.cause))
        after = _registered(sequence)
        what = "creation completed" if creating else "registration completed"
        return done(RESUMED, f"{what}: {after} types registered, {after - before} of them "
                             "recorded now")
    finally:
        if adapter is not None:
            adapter.close()


def resume_all(settings, account_id=None):
    """Resume every interrupted registration (of one account, if given); yields a Resumed
    for each as it is done."""
    for pk in interrupted(account_id):
        try:
            result = resume_one(pk, settings)
        except Exception as error:
            db.session.rollback()
            log.exception("could not resume the registration of sequence %s", pk)
            result = Resumed("?", "?", pk * ID_SPACING, FAILED, f"invx: {error.__class__.__name__}")
        if result is not None:
            yield result


class PeriodicCheck:
    """Runs ``run`` in a thread of its own when poked, at most once every ``seconds`` and
    never twice at once. The app pokes it on each request: a worker serving requests
    resumes what another, dead, worker left, without waiting for that client to retry."""

    def __init__(self, seconds, run):
        self.seconds, self.run = seconds, run
        self._due = 0.0
        self._lock = threading.Lock()
        self._thread = None

    def poke(self):
        now = time.monotonic()
        if now < self._due:  # the usual case: no lock, no thread
            return
        with self._lock:
            if now < self._due or (self._thread is not None and self._thread.is_alive()):
                return
            self._due = now + self.seconds
            self._thread = threading.Thread(target=self._run, name="invx-resume", daemon=True)
            self._thread.start()

    def wait(self, timeout=None):
        """Until the check running now, if any, has ended."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self):
        try:
            self.run()
        except Exception:
            log.exception("the check for interrupted registrations failed")


def _register_missing(sequence, adapter, token, settings):
    try:
        if adapter is not None:
            register_pending(sequence, adapter, token, settings)
    finally:
        release_lease(sequence, token)


def _registered(sequence):
    db.session.expire_all()
    try:
        return sum(1 for s in sequence.series if s.at_status == Series.REGISTERED)
    finally:
        db.session.commit()


def _outcome(account, serie, sequence_id):
    def done(status, detail):
        return Resumed(account, serie, sequence_id, status, detail)
    return done


def _reason(cause):
    if isinstance(cause, TaxAuthorityError):
        return f"AT {cause.code}: {cause.message}" if cause.code else cause.message
    return f"invx: {cause.__class__.__name__}"
