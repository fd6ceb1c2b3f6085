"""The bare app's database connections: at most ``size`` per worker, made when first
needed. A request beyond them waits for one, as invx's SQLAlchemy pool makes it wait:
psycopg2's ThreadedConnectionPool would refuse it instead (PoolError), and under gevent a
worker serves more requests at once than it has connections."""
import contextlib
import threading

import psycopg2


class PoolTimeout(Exception):
    """No connection came free within the pool's timeout."""


class Pool:
    def __init__(self, dsn, size, timeout=30.0):
        self._dsn, self._timeout = dsn, timeout
        self._slots = threading.BoundedSemaphore(size)
        self._idle = []  # append and pop are atomic: no lock of our own

    def _connect(self):
        connection = psycopg2.connect(self._dsn)
        # Autocommit: the app writes BEGIN and COMMIT into its own statements, so that
        # neither costs a round trip of its own (psycopg2 sends its BEGIN alone).
        connection.autocommit = True
        return connection

    @contextlib.contextmanager
    def connection(self):
        """A connection for one request; one that raised is closed, not given back (its
        transaction may still be open)."""
        if not self._slots.acquire(timeout=self._timeout):
            raise PoolTimeout(f"no database connection free within {self._timeout:g} s")
        try:
            try:
                connection = self._idle.pop()
            except IndexError:
                connection = self._connect()
            try:
                yield connection
            except BaseException:
                connection.close()
                raise
            self._idle.append(connection)
        finally:
            self._slots.release()

    def close(self):
        while self._idle:
            self._idle.pop().close()
