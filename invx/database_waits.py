"""psycopg2's waits for PostgreSQL under gevent: psycogreen's, with a deadline on making a
connection.

Under gunicorn's gevent worker psycopg2 never blocks: it connects and waits through a wait
callback (psycogreen's), and then libpq ignores ``connect_timeout``. ``tcp_user_timeout``
(``extensions``) bounds a host that answers no SYN; it does not bound a server that accepts
the connection and then says nothing (a frozen postmaster, a half-dead machine, a proxy
with nothing behind it), which held a new connection, and its request, for ever. Here each
wait while a connection is being made lasts at most its ``connect_timeout``; then the
attempt fails as a connection error (the request's 503). Once connected, waits have no
deadline: a commit waiting for a synchronous standby must not be cut short (PostgreSQL
would keep the commit on the primary alone, acknowledged but not replicated).
"""
import psycopg2
from psycogreen.gevent import gevent_wait_callback
from psycopg2 import extensions

CONNECTED = (extensions.STATUS_READY, extensions.STATUS_BEGIN, extensions.STATUS_PREPARED)


def install():
    """Make psycopg2 wait through gevent's loop, in this process (a gevent worker)."""
    extensions.set_wait_callback(wait)


def wait(conn, timeout=None):
    if conn.status in CONNECTED:
        return gevent_wait_callback(conn, timeout)
    limit = connect_timeout(conn.dsn)
    try:
        return gevent_wait_callback(conn, limit)
    except TimeoutError:
        raise psycopg2.OperationalError(
            f"the database server accepted the connection but did not answer in {limit} s "
            f"(INVX_DB_CONNECT_TIMEOUT)") from None


def connect_timeout(dsn):
    """The connection's ``connect_timeout`` in seconds, or None (no deadline)."""
    value = extensions.parse_dsn(dsn).get("connect_timeout")
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds > 0 else None
