"""Log lines that cannot leak a secret or be forged, and tracebacks that cannot flood.

``SafeFormatter`` is a ``logging.Formatter`` whose formatted record
(message and traceback alike) has its secrets masked (``api_key=``, ``Bearer`` tokens,
passwords in URLs, XML and key=value text, private keys in PEM) and its control characters
escaped, so one record is one line however hostile the path or header it quotes.
"""
import logging
import re
import threading
import time

MASK = "[redacted]"
_SECRETS = (
    # A private key in PEM, whole (before the newlines in it are escaped).
    (re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(-----END [A-Z0-9 ]*PRIVATE KEY-----"
                r"|\Z)", re.DOTALL), "[redacted private key]"),
    # ?api_key=... in a URL or a query string, also percent-encoded; access_token, token, key.
    (re.compile(r"((?:api(?:[_-]|%5f)?key|access(?:[_-]|%5f)?token|token|key)(?:\s|%20)*"
                r"(?:=|%3D|[\"']?\s*:\s*[\"']?)(?:\s|%20)*)[^&\s\"',;]*", re.IGNORECASE),
     r"\1" + MASK),
    (re.compile(r"(bearer(?:\s+|\+|%20)+)[^\s\"',;/]+", re.IGNORECASE), r"\1" + MASK),
    # A key in invx's own shape (40 hexadecimal digits), wherever it is quoted.
    (re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{40}(?![0-9a-fA-F])"), MASK),
    # scheme://user:password@host
    (re.compile(r"(://[^/\s:@]*:)[^@\s/]*@"), r"\1" + MASK + "@"),
    # <wsse:Password ...>secret</wsse:Password>
    (re.compile(r"(<(?:\w+:)?Password\b[^>]*>)[^<]*", re.IGNORECASE), r"\1" + MASK),
    # INVX_SECRET_KEY_PREVIOUS=old,older: a list, commas included.
    (re.compile(r"(secret[_-]?key[_-]?previous(?:=|[\"']?\s*:\s*[\"']?))[^&\s\"';]+",
                re.IGNORECASE), r"\1" + MASK),
    # password=..., "password": "...", secret_key=...
    (re.compile(r"((?:password|passwd|secret[_-]?key|private[_-]?key)"
                r"(?:=|[\"']?\s*:\s*[\"']?))[^&\s\"',;]+", re.IGNORECASE), r"\1" + MASK),
)
# C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


# Words one of the patterns above needs: a line without any (an access log line, most
# lines) is left as it is without running them (11 µs a line otherwise, per request).
_MARKERS = ("key", "token", "bearer", "://", "password", "passwd", "secret")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{40}")


def may_hold_secret(text):
    """Whether ``redact`` may change ``text`` (False: it surely leaves it as it is)."""
    lowered = text.lower()
    return any(marker in lowered for marker in _MARKERS) or bool(_HEX_KEY.search(text))


def redact(text):
    """``text`` with every secret it may hold masked."""
    if not may_hold_secret(text):
        return text
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def escape_controls(text):
    r"""``text`` on one line: ``\n``, ``\r``, ``\t``, and ``\xNN`` / ``\uNNNN`` for the rest."""
    return _CONTROL.sub(lambda m: _NAMED.get(m.group()) or
                        (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                         else f"\\u{ord(m.group()):04x}"), text)


def safe_line(text):
    return escape_controls(redact(text))


MAX_MESSAGE = 2000  # characters of a record's message; a client's long field is cut


class SafeFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose every record is one line with no secret in it, and
    whose message is at most ``MAX_MESSAGE`` characters (a field a client sent, quoted in
    a log line, cannot make that line a megabyte)."""

    def format(self, record):
        message = record.getMessage()
        if len(message) > MAX_MESSAGE:
            record = logging.makeLogRecord({**record.__dict__, "args": None, "msg":
                                            f"{message[:MAX_MESSAGE]}... "
                                            f"({len(message) - MAX_MESSAGE} more characters)"})
        return safe_line(super().format(record))


DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def make_safe(handler, fmt=None, datefmt=None):
    """Give ``handler`` a ``SafeFormatter`` keeping its format (or ``fmt``)."""
    current = handler.formatter
    handler.setFormatter(SafeFormatter(
        fmt or (current._fmt if current else DEFAULT_FORMAT),
        datefmt or (current.datefmt if current else None)))
    return handler


class TracebackThrottle:
    """At most one traceback per cause per ``period`` seconds; the other failures of that
    cause are logged as one line each (``exc_info`` for ``logging`` calls)."""

    def __init__(self, period=60.0, clock=time.monotonic):
        self.period = period
        self._clock = clock
        self._last = {}
        self._lock = threading.Lock()

    def reset(self):
        with self._lock:
            self._last.clear()

    def exc_info(self, error):
        """``error`` when its cause's traceback is due, else False."""
        cause = _cause(error)
        now = self._clock()
        with self._lock:
            if now - self._last.get(cause, -self.period) < self.period:
                return False
            if len(self._last) > 1000:  # causes are few; never let the table grow unbounded
                self._last.clear()
            self._last[cause] = now
        return error


def _cause(error):
    """What makes two failures the same: the error's type (and the driver error's, for a
    database error), and where it was raised."""
    origin = getattr(error, "orig", None)
    frame = error.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = (frame.tb_frame.f_code.co_filename, frame.tb_lineno) if frame else None
    return type(error).__qualname__, type(origin).__qualname__, where


def one_line(error):
    """An error as one short line: its type and the first line of its message."""
    message = str(error).strip().splitlines()
    return f"{type(error).__name__}: {message[0]}" if message else type(error).__name__
