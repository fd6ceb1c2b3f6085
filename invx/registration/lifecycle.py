"""The end of a series: finish it (finalizarSerie) or annul it (anularSerie) at AT.

A finished or annulled sequence issues no more documents. Both hold the sequence's lease,
so they never race a registration, and no transaction is open while AT is called: what the
calls need is read first, into plain values.
"""
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update

from ..extensions import db
from ..models import Sequence, Series, utcnow
from ..portugal.document_types import DOC_TYPES, DocType
from ..portugal.series_names import serie_key
from ..tax_authority.base import TaxAuthorityError
from .adapters import open_adapter
from .leases import claim_lease, release_lease

CLOSING = "closing"  # no new documents; AT not told yet (or it refused: run it again)


class LifecycleError(Exception):
    """The operation cannot be done; the message says why."""


class SequenceNotFound(LifecycleError):
    """The account has no (ready) sequence of that serie."""


@dataclass(frozen=True)
class _Target:
    series_id: str
    doc_type: DocType
    serie: str
    code: str
    last_number: int


def finish_sequence(account, serie, settings, justification=None):
    """Finish every registered type that issued documents, at its last number.

    Returns ([(doc type, what happened)], whether any type failed). The sequence is closed
    once every used type is finished; unused types stay active at AT.
    """
    def finish(adapter, target):
        if target.last_number < 1:
            return "unused: left active at AT (nothing to finish)", None
        adapter.finish_series(target.serie, target.doc_type.at_class, target.doc_type.at_type,
                              target.code, target.last_number, justification)
        return f"finished at number {target.last_number}", Series.FINISHED

    return _close(account, serie, "finished", finish, settings)


def annul_sequence(account, serie, settings):
    """Annul every registered type, for a series communicated by mistake and never used."""
    def annul(adapter, target):  # unused: refusal() found no document under the lock
        adapter.annul_series(target.serie, target.doc_type.at_class, target.doc_type.at_type,
                             target.code, reason="ER")
        return "annulled", Series.ANNULLED

    def refusal(series):
        used = [s.doc_type for s in series if s.last_number > 0]
        return (f"documents were issued on {', '.join(used)}: a used series cannot be "
                "annulled, finish it instead") if used else None

    refused = refusal(_find(account, serie).series)
    if refused:
        raise LifecycleError(refused)
    # Asked again under the lock: a document may have been issued since, and AT must not be
    # asked to annul some types of a series that has to be finished.
    return _close(account, serie, "annulled", annul, settings, refusal)


def _find(account, serie):
    sequence = db.session.scalar(select(Sequence).where(
        Sequence.account_id == account.id, Sequence.serie_key == serie_key(serie),
        Sequence.state == Sequence.READY))
    if sequence is None:
        raise SequenceNotFound(f"account {account.name} has no sequence {serie!r}")
    if sequence.closed_as and sequence.closed_as != CLOSING:
        raise LifecycleError(f"sequence {sequence.serie} was already {sequence.closed_as}")
    return sequence


def _targets(sequence):
    by_type = {s.doc_type: s for s in sequence.series if s.at_status == Series.REGISTERED}
    return [_Target(by_type[t.name].id, t, sequence.serie, by_type[t.name].validation_code,
                    by_type[t.name].last_number) for t in DOC_TYPES if t.name in by_type]


def _close(account, serie, closed_as, operation, settings, refusal=None):
    """Close the sequence: mark it closing, wait for entries in flight, then ``operation``
    each registered type at AT. ``refusal(series)``, read under the lock, may give a reason
    not to go on: the sequence is then left as it was, and AT is not called."""
    sequence = _find(account, serie)
    previously = sequence.closed_as
    token = str(uuid.uuid4())
    if not claim_lease(sequence, token, settings.registration_lease):
        raise LifecycleError(f"sequence {sequence.serie} is being registered: try again later")
    report, failed, adapter = [], False, None
    try:
        try:
            adapter = open_adapter(account, settings)
        except TaxAuthorityError as error:
            raise LifecycleError(error.message) from None
        # From now on no entry is made: then wait for any entry in flight (it holds its
        # series' lock) so the last numbers read below are final.
        db.session.execute(update(Sequence).where(Sequence.pk == sequence.pk)
                           .values(closed_as=CLOSING))
        db.session.commit()
        # In the order entry batches lock series (postgres_store): no deadlock with one.
        locked = db.session.scalars(select(Series).where(Series.sequence_pk == sequence.pk)
                                    .order_by(Series.account_id, Series.id)
                                    .with_for_update()
                                    .execution_options(populate_existing=True)).all()
        refused = refusal(locked) if refusal else None
        if refused:
            db.session.execute(update(Sequence).where(Sequence.pk == sequence.pk)
                               .values(closed_as=previously))
            db.session.commit()
            raise LifecycleError(refused)
        targets = _targets(sequence) if adapter is not None else []
        db.session.commit()  # no transaction, and no lock, while AT works
        for target in targets:
            try:
                outcome, status = operation(adapter, target)
            except LifecycleError as error:
                failed = True
                report.append((target.doc_type, str(error)))
                continue
            except TaxAuthorityError as error:
                failed = True
                report.append((target.doc_type,
                               f"AT refused: {error.code or ''} {error.message}"))
                continue
            report.append((target.doc_type, outcome))
            if status is not None:
                db.session.execute(update(Series).where(Series.account_id == sequence.account_id,
                                                        Series.id == target.series_id)
                                   .values(at_status=status))
                db.session.commit()
        if not failed:
            db.session.execute(update(Sequence).where(Sequence.pk == sequence.pk)
                               .values(closed_as=closed_as, closed_at=utcnow()))
            db.session.commit()
    finally:
        if adapter is not None:
            adapter.close()
        release_lease(sequence, token)
    return report, failed
