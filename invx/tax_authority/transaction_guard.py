"""No database transaction is open in a thread while it calls a Tax Authority.

Such a call would hold the transaction's locks for a whole round trip to AT (on SQLite, the
write lock that every other worker, and the call's own audit record, waits for). The guard
watches the engine: each connection that begins a transaction is noted under the thread
(or greenlet, under gevent) that began it, and a call to an adapter first checks that none
of its thread's connections is still in a transaction. It needs no app context, so the
calls made from the registration's thread pool are checked like the others.

``INVX_AT_TRANSACTION_GUARD`` chooses what a breach does: ``raise`` (the test suite),
``log`` an error (the default), or ``off`` (the engine is not even watched).
"""
import logging
import threading
import weakref

from sqlalchemy import event

log = logging.getLogger(__name__)

_lock = threading.Lock()
# thread (or greenlet) id -> the connections it began a transaction on. ``get_ident`` is
# read at each call, so gevent's patch applies whenever this module was imported.
_began = {}


class TransactionOpen(RuntimeError):
    """A Tax Authority was called while the calling thread had a transaction open."""


def watch(engine):
    """Note every transaction begun on ``engine`` (once per engine)."""
    if event.contains(engine, "begin", _on_begin):
        return
    event.listen(engine, "begin", _on_begin)


def _on_begin(connection):
    ident = threading.get_ident()
    with _lock:
        began = _began.get(ident)
        if began is None:
            began = _began[ident] = weakref.WeakSet()
        began.add(connection)


def open_here():
    """How many connections this thread began a transaction on that is still open."""
    ident = threading.get_ident()
    with _lock:
        began = _began.get(ident)
        if began is None:
            return 0
        still_open = [connection for connection in began if connection.in_transaction()]
        if not still_open:
            del _began[ident]  # ended since: forget them (and this thread)
        return len(still_open)


def check(operation, mode):
    """Before calling AT: a transaction open in this thread raises or is logged (``mode``)."""
    if mode == "off" or not open_here():
        return
    message = f"a database transaction is open while calling AT ({operation})"
    if mode == "raise":
        raise TransactionOpen(message)
    log.error(message)
