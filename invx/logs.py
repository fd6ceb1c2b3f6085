"""Structured log lines (structlog) and request ids, for invx, Flask, SQLAlchemy and gunicorn.

Every record, whoever writes it (a ``logging`` logger of invx, Flask, SQLAlchemy or
gunicorn, or a ``structlog`` logger), goes through one ``structlog.stdlib.ProcessorFormatter``
(``formatter()``), which renders it as one JSON object per line (``INVX_LOG_FORMAT=json``)
or as one line of text for a person (``text``). Either way the guarantees of
``log_safety`` hold: every string field is redacted and cut at ``MAX_MESSAGE`` characters,
and the line has no raw control character (JSON escapes them; text escapes them as
``log_safety.escape_controls`` does). A traceback is the ``exception`` field of its record's
own line.

``RequestIds`` (WSGI middleware, outermost around the app) gives each request its id: the
client's ``X-Request-ID`` when sane (``sane_request_id``), else a new uuid4 hex. It echoes
it in every answer's ``X-Request-ID`` and binds it, with what the request learns later
(``note``: the account, the entry's series and number), to a ``contextvars`` variable that
every line of the request carries: each thread, and each greenlet under gevent, has its
own. The same fields are in the WSGI environ (``FIELDS``), where gunicorn's access line
(``serving.SafeLogger``) reads them once the answer is sent.

One context variable holding one dict per request, not ``structlog.contextvars``: the
environ shares that very dict with gunicorn, and a request resets it with one ``set``.
"""
import contextvars
import datetime
import functools
import json
import logging
import re
import uuid

import structlog

from .log_safety import MASK, MAX_MESSAGE, escape_controls, may_hold_secret, redact

FORMATS = ("json", "text")
FIELDS = "invx.log"  # the request's fields in the WSGI environ
RENDERED = "invx_rendered"  # a record's attribute: its line, rendered already
HEADER = "X-Request-ID"
# What a client's X-Request-ID may be to be kept (RFC 9110 token characters, less those a
# shell, a URL or a log reader treats specially): otherwise invx makes its own.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")
# The fields of an access line (gunicorn's), in the order a JSON line shows them.
ACCESS = ("method", "path", "status", "duration_ms", "account", "series", "number", "bytes",
          "remote")
_FIRST = ("time", "level", "event", "request_id")
_ORDER = _FIRST + ACCESS
# What a text line leaves out: said by the line's own shape (the access message has the
# method, path, status...), or what the request id finds in the JSON lines.
_NOT_IN_TEXT = frozenset(_FIRST + ACCESS + ("logger", "exception"))

# A field so named has its whole value masked, whatever it looks like.
_SECRET_WORDS = ("key", "token", "password", "passwd", "secret", "authorization", "cookie")

_request = contextvars.ContextVar("invx_request", default=None)


def sane_request_id(value):
    """``value`` (a client's X-Request-ID) if it may be used as the request's id: 1 to 128
    characters of ``[A-Za-z0-9._:-]``, none of which redaction would mask (an id shaped
    like a key, 40 hexadecimal digits, is not kept); else None."""
    if value and _SANE.fullmatch(value) and redact(value) == value:
        return value
    return None


class RequestIds:
    """WSGI middleware: the request's id, taken or made, echoed, and in every log line."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        request_id = sane_request_id(environ.get("HTTP_X_REQUEST_ID")) or uuid.uuid4().hex
        fields = {"request_id": request_id}
        environ[FIELDS] = fields
        _request.set(fields)  # a new dict: nothing of the connection's last request stays

        def start_with_id(status, headers, exc_info=None):
            headers = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        return self.wsgi_app(environ, start_with_id)


def note(**fields):
    """Add ``fields`` (``account=``, ``series=``, ``number=``) to every later line of this
    request, its access line included. Outside a request, nothing."""
    current = _request.get()
    if current is not None:
        current.update(fields)


def current_request_id():
    current = _request.get()
    return None if current is None else current.get("request_id")


def access_fields(status, sent, environ, request_time):
    """The fields of a request's access line: the WSGI ``environ`` (with what invx noted in
    it), the answer's ``status`` (int or "200 OK"), the bytes ``sent``, and its
    ``request_time`` (a timedelta). The path is PATH_INFO: never the query string."""
    if isinstance(status, str):
        status = int(status.split(None, 1)[0]) if status[:3].isdigit() else status
    fields = {"method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
              "status": status,
              "duration_ms": round(request_time.total_seconds() * 1000, 3),
              "bytes": sent, "remote": environ.get("REMOTE_ADDR")}
    fields.update(environ.get(FIELDS) or {})
    return fields


def _merge_request(logger, method_name, event_dict):
    """The request's fields, in every line written while it is served."""
    current = _request.get()
    if current:
        for name, value in current.items():
            event_dict.setdefault(name, value)
    return event_dict


def _cut(text):
    if len(text) > MAX_MESSAGE:
        return f"{text[:MAX_MESSAGE]}... ({len(text) - MAX_MESSAGE} more characters)"
    return text


@functools.lru_cache(maxsize=512)
def _names_a_secret(name):
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _safe_fields(logger, method_name, event_dict):
    """Every field redacted and cut (the traceback redacted only), in a reading order:
    time, level, event, request id, then the rest. The strings are looked at together
    first: most lines (every access line but a hostile one) hold nothing to redact, and
    one look costs less than one per field."""
    event_dict.pop("_record", None)
    event_dict.pop("_from_structlog", None)
    ordered = {name: event_dict.pop(name) for name in _ORDER if name in event_dict}
    exception = event_dict.pop("exception", None)
    ordered.update(event_dict)
    for name, value in ordered.items():
        if not (value is None or isinstance(value, str | bool | int | float)):
            ordered[name] = str(value)
    for name in ordered:
        if _names_a_secret(name):  # structlog.get_logger().info("...", api_key=key)
            ordered[name] = MASK
    texts = [value for value in ordered.values() if isinstance(value, str)]
    secret = may_hold_secret("\x00".join(texts))  # \x00: no marker spans two fields
    if secret or any(len(text) > MAX_MESSAGE for text in texts):
        for name, value in ordered.items():
            if isinstance(value, str):
                ordered[name] = _cut(redact(value) if secret else value)
    if exception:
        ordered["exception"] = redact(exception)
    return ordered


# What JSON leaves as it is and a reader may still take for a line break or a terminal
# command: DEL, the C1 controls, the Unicode line and paragraph separators.
_UNESCAPED = re.compile(r"[\x7f-\x9f\u2028\u2029]")


def _dumps(event_dict, **kw):
    line = json.dumps(event_dict, ensure_ascii=False, default=str)
    return _UNESCAPED.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def _render_text(logger, method_name, event_dict):
    """Today's line for a person, with the time and the request id: ``TIME LEVEL LOGGER:
    EVENT [key=value...] request_id=ID [the traceback]``, on one line."""
    parts = [f"{event_dict.get('time')} {str(event_dict.get('level')).upper()} "
             f"{event_dict.get('logger', '-')}: {event_dict.get('event')}"]
    parts += [f"{name}={value}" for name, value in event_dict.items()
              if name not in _NOT_IN_TEXT]
    if event_dict.get("request_id"):
        parts.append(f"request_id={event_dict['request_id']}")
    if event_dict.get("exception"):
        parts.append(event_dict["exception"])
    return escape_controls(" ".join(parts))


_PRE_CHAIN = [
    _merge_request,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(allow=(*ACCESS, "request_id")),  # gunicorn's access line
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


def check_format(log_format):
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    return log_format


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's formatter, which passes a record rendered already (``RENDERED``: an
    access line, ``access_line``) as it is."""

    def format(self, record):
        rendered = record.__dict__.get(RENDERED)
        return super().format(record) if rendered is None else rendered


def formatter(log_format):
    """The ``logging.Formatter`` of every handler invx and gunicorn write through."""
    renderer = (structlog.processors.JSONRenderer(serializer=_dumps)
                if check_format(log_format) == "json" else _render_text)
    return _Formatter(
        foreign_pre_chain=_PRE_CHAIN,
        processors=[structlog.processors.format_exc_info, _safe_fields, renderer])


def access_line(fields, logger_name):
    """The JSON line of a request's access record, ``fields`` from ``access_fields``: what
    ``formatter("json")`` makes of it (the same fields, order and redaction), made
    straight, without the processors' chain. An access line is written at every request:
    ``python -m bench.log_cost`` measured the whole line (the record and its write
    included) at 75.6 µs the long way, 50 to 55 µs this way (session 14)."""
    event = {"event": "request", **(_request.get() or {}), "level": "info",
             "logger": logger_name, **fields,
             "time": datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")}
    return _dumps(_safe_fields(None, None, event))


def configure(log_format, level):
    """Give the root logger (stderr, where gunicorn's workers write) one handler with
    ``formatter(log_format)``, unless something (pytest, an embedding program) already
    gave it its own; invx's loggers log at ``level``; ``structlog.get_logger()`` loggers
    write through the same handler."""
    logging.getLogger("invx").setLevel(level)
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *_PRE_CHAIN,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True)
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(formatter(log_format))
        root.addHandler(handler)


def register_request_ids(app):
    """Each request's id: ``RequestIds`` outermost around ``app.wsgi_app`` (create_app calls
    this after the error handlers wrap it with their own, so that their answers, and the
    lines they log, carry the id too)."""
    app.wsgi_app = RequestIds(app.wsgi_app)
