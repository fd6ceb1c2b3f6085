"""No database transaction is open in a thread while it calls a Tax Authority.

Such a call would hold the transaction's locks for a whole round trip to AT (on SQLite, the
write lock that every other worker, and the call's own audit record, waits for). The guard
watches the engine's pool: each connection checked out is noted, under the thread (or
greenlet, under gevent) that took it, until it is checked in, and a call to an adapter
first checks that its thread holds none. A session holds a connection exactly while its
transaction is open (SQLAlchemy 2); a Core connection held open counts too, in a
transaction or not: a call to AT has no reason to hold either. (The pool that an
in-memory SQLite database uses shares one connection among threads; the guard is not
exact there.) It needs no app context, so the calls made from the registration's thread pool are
checked like the others. Pool events, not connection events: side by side with the code
before the guard (``bench.compare``, 64 clients over 64 series, 20 rounds in both orders),
a guard on the connections' begin and end events gave 0.92-0.95 times the throughput, this
one 1.00.

``INVX_AT_TRANSACTION_GUARD`` chooses what a breach does: ``raise`` (the test suite),
``log`` an error (the default), or ``off`` (the engine is not even watched).
"""
import logging
import threading

from sqlalchemy import event

log = logging.getLogger(__name__)

# id(pool record) -> the thread or greenlet that checked its connection out, for every
# connection out of the pool now. No lock: a dict's item set, pop and copy are each one step
# under the GIL. ``get_ident`` is read at each checkout, so gevent's patch applies whenever
# this module was imported.
_held = {}


class TransactionOpen(RuntimeError):
    """A Tax Authority was called while the calling thread had a transaction open."""


def watch(engine):
    """Note every checkout and checkin of ``engine``'s pool (once per engine)."""
    for name, listener in (("checkout", _on_checkout), ("checkin", _on_checkin)):
        if not event.contains(engine, name, listener):
            event.listen(engine, name, listener)


def _on_checkout(dbapi_connection, record, proxy):
    _held[id(record)] = threading.get_ident()


def _on_checkin(dbapi_connection, record):
    _held.pop(id(record), None)


def open_here():
    """How many database connections this thread holds: each, a transaction open."""
    ident = threading.get_ident()
    return sum(1 for owner in _held.copy().values() if owner == ident)


def check(operation, mode):
    """Before calling AT: a transaction open in this thread raises or is logged (``mode``)."""
    if mode == "off" or not open_here():
        return
    message = f"a database transaction is open while calling AT ({operation})"
    if mode == "raise":
        raise TransactionOpen(message)
    log.error(message)
