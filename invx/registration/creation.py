"""The end of a sequence's creation: its types registered, then shown (ready), or, when
registration failed, forgotten or kept as what AT holds of it.

``POST /sequences.json`` runs it under the lease it took when it inserted the sequence;
``register.json`` and the resumer (``registration.resume``) run it for a creation whose
worker died, under the lease they took over.
"""
from sqlalchemy import update

from ..extensions import db
from ..models import Account, Sequence, Series
from .leases import release_lease
from .workflow import RegistrationFailed, register_pending


def complete_creation(account, sequence, adapter, token, settings, make_default=False):
    """Register the types still without a code (none with no ``adapter``), then make the
    sequence ready; the lease ``token`` is given back either way.

    On failure, raises RegistrationFailed, having left the sequence as AT leaves it:
    forgotten when AT holds nothing of it (the client may fix the cause and retry), kept as
    FAILED when all AT holds is annulled (AT refuses the name for good: a new POST answers
    002 without asking AT), or ready, partially registered, for ``register.json``.
    """
    try:
        if adapter is not None:
            register_pending(sequence, adapter, token, settings)
    except RegistrationFailed:
        db.session.expire_all()
        if _holds_nothing_at_at(sequence):
            db.session.delete(sequence)
            db.session.commit()
        elif _holds_only_annulled(sequence):
            sequence.state = Sequence.FAILED
            db.session.flush()
            release_lease(sequence, token)
        else:
            finish_creation(account, sequence, token, make_default=False)
        raise
    finish_creation(account, sequence, token, make_default)


def finish_creation(account, sequence, token, make_default):
    """Show the sequence (ready) and give the lease back; the account's first sequence is
    its default."""
    sequence.state = Sequence.READY
    if make_default:
        account.default_sequence_pk = sequence.pk
    db.session.flush()
    # The condition makes it race-free.
    db.session.execute(
        update(Account).where(Account.id == account.id, Account.default_sequence_pk.is_(None))
        .values(default_sequence_pk=sequence.pk).execution_options(synchronize_session=False))
    release_lease(sequence, token)
    db.session.refresh(account)


def _at_may_hold(series):
    """AT holds this type active, or may (it was sent and no answer said otherwise)."""
    return (series.at_status in (Series.REGISTERED, Series.FINISHED)
            or (series.needs_registration and series.register_sent_at is not None))


def _holds_nothing_at_at(sequence):
    """True when AT certainly has none of this sequence's series: it may be forgotten."""
    return not any(_at_may_hold(s) or s.at_status == Series.ANNULLED for s in sequence.series)


def _holds_only_annulled(sequence):
    """AT holds some types annulled and none otherwise: the name is spent at AT."""
    return not any(_at_may_hold(s) for s in sequence.series)
