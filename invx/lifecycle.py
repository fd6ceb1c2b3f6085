"""The end of a series: finish it (finalizarSerie) or annul it (anularSerie) at AT.

A finished or annulled sequence issues no more documents. Both hold the sequence's lease,
so they never race a registration, and no transaction is open while AT is called.
"""
import uuid

from sqlalchemy import select

from . import errors
from .doctypes import BY_NAME
from .extensions import db
from .fiscal import serie_key
from .models import Sequence, Series, utcnow
from .registration import claim_lease, lease_length, release_lease, tax_authority_for
from .tax_authority.base import TaxAuthorityError


class LifecycleError(Exception):
    """The operation cannot be done; the message says why."""


def finish_sequence(account, serie, justification=None, config=None):
    """Finish every registered type that issued documents, at its last number.

    Returns one (doc type, what happened) line per type; raises LifecycleError first when
    nothing can be done. The sequence is closed once every used type is finished.
    """
    def finish(adapter, sequence, series, doc_type):
        if series.last_number < 1:
            return "unused: left active at AT (nothing to finish)"
        adapter.finish_series(sequence.serie, doc_type.at_class, doc_type.at_type,
                              series.validation_code, series.last_number, justification)
        return f"finished at number {series.last_number}", Series.FINISHED

    return _close(account, serie, "finished", finish, config or {})


def annul_sequence(account, serie, config=None):
    """Annul every registered type, for a series communicated by mistake and never used."""
    def annul(adapter, sequence, series, doc_type):
        adapter.annul_series(sequence.serie, doc_type.at_class, doc_type.at_type,
                             series.validation_code, reason="ER")
        return "annulled", Series.ANNULLED

    sequence = _find(account, serie)
    used = [s.doc_type for s in sequence.series if s.last_number > 0]
    if used:
        raise LifecycleError(f"documents were issued on {', '.join(used)}: a used series "
                             "cannot be annulled, finish it instead")
    return _close(account, serie, "annulled", annul, config or {})


def _find(account, serie):
    sequence = db.session.scalar(select(Sequence).where(
        Sequence.account_id == account.id, Sequence.serie_key == serie_key(serie),
        Sequence.state == Sequence.READY))
    if sequence is None:
        raise LifecycleError(f"account {account.name} has no sequence {serie!r}")
    if sequence.closed_as:
        raise LifecycleError(f"sequence {sequence.serie} was already {sequence.closed_as}")
    return sequence


def _close(account, serie, closed_as, operation, config):
    sequence = _find(account, serie)
    token = str(uuid.uuid4())
    if not claim_lease(sequence, token, lease_length(config)):
        raise LifecycleError(f"sequence {sequence.serie} is being registered: try again later")
    report, failed, adapter = [], False, None
    try:
        try:
            adapter = tax_authority_for(account, config)
        except errors.InvxError as error:
            raise LifecycleError(f"{error.message} ({error.detail})") from None
        for series in sorted(sequence.series, key=lambda s: list(BY_NAME).index(s.doc_type)):
            doc_type = BY_NAME[series.doc_type]
            if adapter is None or series.at_status != Series.REGISTERED:
                continue
            db.session.commit()  # no transaction open while AT works
            try:
                outcome = operation(adapter, sequence, series, doc_type)
            except TaxAuthorityError as error:
                failed = True
                report.append((doc_type, f"AT refused: {error.code or ''} {error.message}"))
                continue
            if isinstance(outcome, tuple):
                outcome, series.at_status = outcome
            report.append((doc_type, outcome))
            db.session.commit()
        if not failed:
            sequence.closed_as, sequence.closed_at = closed_as, utcnow()
            db.session.commit()
    finally:
        if adapter is not None:
            adapter.close()
        release_lease(sequence, token)
    return report, failed
