"""Request bodies read safely: within ``INVX_MAX_BODY_BYTES`` whatever the framing (a
chunked body too), within ``INVX_BODY_TIMEOUT`` however slowly the client sends, and not at
all for a request refused before it (its connection is then closed instead of drained).

Under gunicorn a body is read from the client's socket as the app asks for it. A client
that sends its headers and then stalls (or trickles a byte at a time) would hold the
worker's thread or greenlet for as long as it likes: ``watchdog`` shuts the socket's
reading side when the deadline passes, which ends the read at once, and the client is
answered 408.
"""
import contextlib
import io
import os
import socket
import threading
import time

from flask import g, request
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, RequestTimeout

from . import config

_READ_SIZE = 64 * 1024


def read():
    """The request's body, read once (``b""`` when it has none)."""
    body = g.get("invx_body")
    if body is None:
        body = g.invx_body = _read_now(request.environ, config.current())
    return body


def has_body(environ):
    length = environ.get("CONTENT_LENGTH") or ""
    return (length not in ("", "0")
            or "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower())


def refuse_too_large():
    """Before any view: a body declared larger than ``INVX_MAX_BODY_BYTES`` is 413, whether
    or not the request's view would read it (a PUT of set_current.json does not)."""
    length = request.content_length
    if length is not None and length > config.current().max_body_bytes:
        abandon_connection(request.environ)
        raise RequestEntityTooLarge()


def close_unread(response):
    """After a request: a body nobody read (the request was refused, or has no route) is
    not drained from a client that may never send it: the connection closes instead."""
    if g.get("invx_body") is None and has_body(request.environ):
        abandon_connection(request.environ)
    return response


def abandon_connection(environ):
    """Make gunicorn close this connection after the answer, at once, without reading on.

    gunicorn sets ``failed`` on the body when reading it raised, and then closes the
    connection rather than look for the next request in it (an answer's own ``Connection:
    close`` it drops). Its threaded worker closes "gracefully", reading for up to 2 s what
    the client still sends, in its one event-loop thread: a client that stalls would hold
    every other connection of the worker for those 2 s. Shutting the socket's reading side
    makes that read end at once. (A client still sending may then see its connection reset
    rather than the answer; tests/test_request_body.py checks all this against gunicorn.)
    """
    stream = environ.get("wsgi.input")
    if hasattr(stream, "failed"):
        stream.failed = True
    sock = environ.get("gunicorn.socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # the client is already gone
            sock.shutdown(socket.SHUT_RD)


def _read_now(environ, settings):
    limit = settings.max_body_bytes
    length = request.content_length  # not over the limit: refuse_too_large saw to it
    if not has_body(environ):
        return b""
    expected = limit + 1 if length is None else length
    deadline = time.monotonic() + settings.body_timeout
    with watchdog.watch(environ.get("gunicorn.socket"), deadline) as watch:
        try:
            data = _read_up_to(environ["wsgi.input"], expected)
        except Exception:  # a broken chunk, a reset: the body cannot be had
            data = None
    if watch.fired:
        abandon_connection(environ)
        raise RequestTimeout()
    if data is None or (length is not None and len(data) < length):
        abandon_connection(environ)
        raise BadRequest()
    if len(data) > limit:
        with watchdog.watch(environ.get("gunicorn.socket"), deadline), \
                contextlib.suppress(Exception):
            _read_up_to(environ["wsgi.input"], _READ_SIZE)  # so the 413 is not lost to a reset
        abandon_connection(environ)
        raise RequestEntityTooLarge()
    return data


def _read_up_to(stream, size):
    buffer = io.BytesIO()
    while buffer.tell() < size:
        chunk = stream.read(min(_READ_SIZE, size - buffer.tell()))
        if not chunk:
            break
        buffer.write(chunk)
    return buffer.getvalue()


class _Watch:
    def __init__(self, sock, deadline):
        self.sock, self.deadline, self.fired = sock, deadline, False


class Watchdog:
    """One thread (a greenlet under gevent) per process that ends the body reads whose
    deadline has passed, by shutting the reading side of their socket: the blocked read
    returns at once. Registering a read costs a dictionary insert."""

    def __init__(self, tick=0.1):
        self.tick = tick
        self._lock = threading.Lock()
        self._watches = set()
        self._pid = None

    @contextlib.contextmanager
    def watch(self, sock, deadline):
        watch = _Watch(sock, deadline)
        if sock is None:  # not under gunicorn (the test client): nothing can stall
            yield watch
            return
        with self._lock:
            self._watches.add(watch)
            first = self._pid != os.getpid()  # first use in this (forked) process
            self._pid = os.getpid()
        if first:  # started outside the lock: under gevent, starting a thread yields
            threading.Thread(target=self._run, name="invx-body-watchdog", daemon=True).start()
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.discard(watch)

    def _run(self):
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                due = [watch for watch in self._watches if watch.deadline <= now]
                for watch in due:
                    self._watches.discard(watch)
                    watch.fired = True
            for watch in due:
                with contextlib.suppress(OSError):  # already closed by the client
                    watch.sock.shutdown(socket.SHUT_RD)


watchdog = Watchdog()
