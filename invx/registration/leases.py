"""The registration lease: who may work on a sequence's AT registration right now.

It lives in the database, not in process memory, so it holds across gunicorn workers and
machines; a holder that died loses it when it expires, and another may take over.
"""
from sqlalchemy import and_, or_, update

from ..extensions import db
from ..models import Sequence, utcnow


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


def renew_lease(pk, token, lease):
    """Extend the lease we hold (no effect once another holder has it)."""
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


def abandoned(now):
    """The SQL condition of a sequence whose registration was interrupted: its lease has
    run out, or a creation was left without one. A sequence being finished or annulled is
    left to ``invx sequences finish|annul``, run again."""
    expired = and_(Sequence.lease_token.is_not(None), Sequence.lease_expires_at < now)
    unleased = and_(Sequence.lease_token.is_(None), Sequence.state == Sequence.CREATING)
    return and_(or_(expired, unleased), Sequence.closed_as.is_(None),
                Sequence.state.in_((Sequence.CREATING, Sequence.READY)))


def take_over_lease(pk, token, lease):
    """Take the lease of a sequence that is still ``abandoned``; True if taken. A sequence
    that someone completed or took over meanwhile is left alone."""
    now = utcnow()
    result = db.session.execute(
        update(Sequence).where(Sequence.pk == pk, abandoned(now))
        .values(lease_token=token, lease_expires_at=now + lease)
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1
