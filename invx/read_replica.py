"""Reads that may go to a replica: ``INVX_READ_DATABASE_URL`` (issue 21).

A PostgreSQL standby can serve the reads that tolerate its small lag, and spare the
primary, which alone numbers: the Sequence Service's entries list, ``/verify``, ``/keys``
(the JWKS) and ``invx export``. Everything else reads the primary, and so does everything
an InvoiceXpress client reads right after it wrote: a client that creates a sequence and
reads it back must find it, which a replica a few milliseconds behind may not.

A view marked ``lag_tolerant`` runs with the request's session routed to the replica for
its reads; what it writes (``/verify`` stores a checkpoint) still goes to the primary, and
so does anything read before the view (the API key, in ``before_request``). Without the
setting the marking does nothing.
"""
import functools

from flask import current_app, g, has_app_context
from flask_sqlalchemy.session import Session
from sqlalchemy import create_engine

ENGINE = "invx_read_engine"  # app.extensions key
_FLAG = "_invx_replica_reads"


def init_read_replica(app, url, options):
    """Make the replica's engine, with the primary's engine options, if ``url`` is set."""
    if url:
        app.extensions[ENGINE] = create_engine(url, **options)


def read_engine(app=None):
    """The replica's engine, or None when reads are not sent to one."""
    return (app or current_app).extensions.get(ENGINE)


def lag_tolerant(view):
    """Mark a view whose reads may come from the replica."""
    @functools.wraps(view)
    def reading_from_replica(*args, **kwargs):
        g.setdefault(_FLAG, False)
        setattr(g, _FLAG, True)
        try:
            return view(*args, **kwargs)
        finally:
            setattr(g, _FLAG, False)
    return reading_from_replica


class RoutingSession(Session):
    """Flask-SQLAlchemy's session, whose reads in a ``lag_tolerant`` view go to the
    replica: not a write statement, and nothing the session flushes."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and not self._flushing and has_app_context() and g.get(_FLAG):
            engine = current_app.extensions.get(ENGINE)
            if engine is not None and not getattr(clause, "is_dml", False):
                return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)
