"""Registering a sequence's series with the Tax Authority, and undoing it.

The types are registered concurrently; each code is committed the moment it arrives; a type
that may have reached AT before is looked up (consultarSeries) instead of being sent again;
when a type fails, what this attempt registered is annulled, and ``RegistrationFailed``
carries the first failure to the caller (the InvoiceXpress API tells its client which).
"""
import logging
from dataclasses import dataclass

from sqlalchemy import update

from ..extensions import db
from ..models import Series, utcnow
from ..portugal.document_types import BY_NAME, DOC_TYPES, DocType
from ..portugal.lisbon import today_in_portugal
from ..tax_authority.base import (
    AlreadyRegisteredError,
    SeriesInfo,
    SeriesRegistration,
    TaxAuthorityError,
)
from .concurrency import concurrently
from .leases import renew_lease

log = logging.getLogger(__name__)


class RegistrationFailed(Exception):
    """A type could not be registered; what this attempt did was undone where it could be.
    ``cause`` is the first failure, in the types' order: a TaxAuthorityError, or whatever
    else went wrong (a bug, say)."""

    def __init__(self, cause):
        super().__init__(f"registration failed: {cause.__class__.__name__}")
        self.cause = cause


def pending_series(sequence):
    """The series still to register, in the documented order of the types."""
    by_type = {s.doc_type: s for s in sequence.series if s.needs_registration}
    return [by_type[t.name] for t in DOC_TYPES if t.name in by_type]


@dataclass
class _Job:
    """One document type to register: plain data, safe to hand to a worker thread."""

    series_id: str
    account_id: int
    doc_type: DocType
    registration: SeriesRegistration
    resume: bool  # registarSerie may have reached AT before: ask AT first
    code: str | None = None


def register_pending(sequence, adapter, token, settings):
    """Register every type still without a code, concurrently; on failure undo this attempt.

    Codes are committed the moment each arrives. Before anything is sent, every type is
    marked as sent, so that if this worker dies the next attempt asks AT before sending.
    """
    pending = pending_series(sequence)
    if not pending:
        return
    lease = settings.registration_lease
    today = today_in_portugal()
    jobs = [_job(series, BY_NAME[series.doc_type], sequence.serie, adapter, today)
            for series in pending]
    pk = sequence.pk
    db.session.execute(update(Series).where(
        Series.id.in_([job.series_id for job in jobs]), Series.sequence_pk == pk,
        Series.register_sent_at.is_(None))
        .values(register_sent_at=utcnow()).execution_options(synchronize_session=False))
    db.session.commit()  # no transaction stays open while AT works

    got, failed = [], []
    for job, outcome in concurrently(lambda job: _register_one(adapter, job), jobs,
                                     settings.at_concurrency, stop_on_error=True):
        if isinstance(outcome, SeriesInfo):
            job.code = outcome.validation_code
            _store(job, at_status=Series.REGISTERED, validation_code=job.code,
                   registered_at=utcnow(), registered_by=adapter.name)
            renew_lease(pk, token, lease)
            db.session.commit()
            got.append(job)
        elif outcome is None:  # skipped after a failure: AT never saw it from us
            if not job.resume:  # but a resumed type, an attempt before may have sent
                _store(job, register_sent_at=None)
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
            _store(job, register_sent_at=None)  # AT answered: it registered nothing
        else:
            unknown.append(job)
    db.session.commit()
    _compensate(adapter, got, unknown, settings.at_concurrency)
    error = failed[0][1]
    raise RegistrationFailed(error) from error


def _job(series, doc_type, serie, adapter, today):
    """What registering one type needs, as plain data: first number 1, start date today,
    processed by a certified program (PI), with the account's software certificate."""
    return _Job(series.id, series.account_id, doc_type, SeriesRegistration(
        serie=serie, series_type=adapter.series_type, doc_class=doc_type.at_class,
        doc_type=doc_type.at_type, first_number=1, start_date=today,
        software_certificate=adapter.software_certificate, processing="PI"),
        resume=series.register_sent_at is not None)


def _register_one(adapter, job):
    """registarSerie, unless AT may already have it: then ask, and adopt an active one."""
    reg = job.registration
    if job.resume:
        found = adapter.query_series(reg.serie, reg.doc_class, reg.doc_type)
        active = next((info for info in found if info.state == "A"), None)
        if active is not None:
            log.warning("adopting %s %s/%s from AT: it was registered by an attempt that "
                        "did not finish", reg.serie, reg.doc_class, reg.doc_type)
            return active
        if found:
            raise AlreadyRegisteredError(
                f"AT already holds this series, in state {found[0].state}", 4001)
    return adapter.register_series(reg)


def _compensate(adapter, registered, unknown, workers):
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

    for job, outcome in concurrently(undo, registered + unknown, workers):
        reg = job.registration
        if isinstance(outcome, BaseException):
            log.error("could not undo %s %s/%s at AT (kept for a later attempt): %s", reg.serie,
                      reg.doc_class, reg.doc_type, getattr(outcome, "message", outcome))
            continue
        if outcome is not None:
            _store(job, at_status=Series.ANNULLED, validation_code=outcome,
                   registered_by=adapter.name)
            db.session.commit()


def _store(job, **values):
    # A series id is unique in its account only (the primary key is the account's, then the
    # id): the job's series is named by both.
    db.session.execute(update(Series).where(Series.account_id == job.account_id,
                                            Series.id == job.series_id).values(**values)
                       .execution_options(synchronize_session=False))


def _log_refusal(job, error):
    reg = job.registration
    if isinstance(error, TaxAuthorityError) and error.code is not None:
        log.warning("AT refused %s %s/%s: %s %s", reg.serie, reg.doc_class, reg.doc_type,
                    error.code, error.message)
    elif isinstance(error, TaxAuthorityError):  # no result code: a timeout, a TLS failure...
        log.warning("registering %s %s/%s failed: %s", reg.serie, reg.doc_class, reg.doc_type,
                    error.message)
    else:
        log.error("registering %s %s/%s failed", reg.serie, reg.doc_class, reg.doc_type,
                  exc_info=error)
