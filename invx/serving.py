"""What invx changes in gunicorn (gunicorn.conf.py uses it): safe log lines, JSON errors.

- ``SafeLogger`` (``logger_class``): gunicorn's error and access logs through
  ``logs.formatter``: JSON lines (or text, ``INVX_LOG_FORMAT``) with no key, password or
  private key, and no control character (a forged line), in any line, whatever gunicorn
  quotes (its "Error handling request" line quotes the whole URI, query string included).
  The access line is one per request, with the fields invx noted in the WSGI environ
  (request id, account, series and number: ``logs.access_fields``).
- ``answer_errors_in_json()``: the answers gunicorn writes itself, before the app sees a
  request (a request line, header or chunk it cannot parse: 400, 414, 431...), are JSON
  like every other answer of invx, instead of gunicorn's HTML page. They echo nothing of
  the request.
"""
import json
import logging
import subprocess
import sys
import uuid

from gunicorn import glogging, util

from . import logs
from .config import ConfigError, Settings
from .log_safety import safe_line

# Refused before invx sees them (documented in README, "Limits"): a request line longer
# than this is 414; more headers, or one longer, is 431.
LIMIT_REQUEST_LINE = 8190
LIMIT_REQUEST_FIELDS = 100
LIMIT_REQUEST_FIELD_SIZE = 8190


class SafeLogger(glogging.Logger):
    """gunicorn's logger, every line of which is one line with no secret in it."""

    def setup(self, cfg):
        try:
            self.log_format = Settings.one_from_environment("log_format")
        except ConfigError as error:  # one line, not gunicorn's traceback
            raise SystemExit(f"invx: {error}") from None
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(logs.formatter(self.log_format))

    def access(self, resp, req, environ, request_time):
        """One line per request: in JSON, its fields (``logs.access_fields``), without
        building gunicorn's atoms (every header and environ variable, formatted); in
        text, gunicorn's ``access_log_format`` line, with the time and the request id."""
        if not self.access_log_enabled:
            return
        fields = logs.access_fields(resp.status, getattr(resp, "sent", None), environ,
                                    request_time)
        if self.log_format == "json":
            log = self.access_log
            if log.isEnabledFor(logging.INFO):
                # The record made here, not by ``log.info``, which would walk the stack for
                # the caller's file and line (of no use in an access line), and rendered
                # already for invx's formatter (``python -m bench.log_cost``: a third of the
                # line's cost); its fields stay on it for any other formatter.
                line = logs.access_line(fields, log.name)
                log.handle(log.makeRecord(log.name, logging.INFO, __file__, 0, "request", (),
                                          None, extra={**fields, logs.RENDERED: line}))
            return
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        self.access_log.info(self.cfg.access_log_format, atoms, extra=fields)


_WORDS = {400: ("bad_request", "The request could not be read as HTTP."),
          403: ("forbidden", "The request is not allowed."),
          414: ("uri_too_long", f"The request line is longer than {LIMIT_REQUEST_LINE} bytes."),
          417: ("expectation_failed", "The Expect header cannot be met."),
          431: ("headers_too_large",
                f"More than {LIMIT_REQUEST_FIELDS} headers, or one longer than "
                f"{LIMIT_REQUEST_FIELD_SIZE} bytes."),
          500: ("internal", "Something went wrong."),
          501: ("not_implemented", "That transfer coding is not supported.")}


def error_answer(status, reason):
    """The raw HTTP answer gunicorn sends for an error of its own, as invx's JSON."""
    code, message = _WORDS.get(status, ("error", "The request failed."))
    body = json.dumps({"code": code, "message": message}).encode()
    # A request id of its own, as every answer of invx has (gunicorn read no header).
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\n"
            f"X-Request-ID: {uuid.uuid4().hex}\r\n"
            f"Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1")
    return head + body


def _write_json_error(sock, status_int, reason, mesg):  # gunicorn.util.write_error's shape
    util.write_nonblock(sock, error_answer(status_int, reason))


def answer_errors_in_json():
    """Make gunicorn write its own error answers in JSON (its workers call
    ``gunicorn.util.write_error``, which has no setting of its own)."""
    util.write_error = _write_json_error


CHECK_TIMEOUT = 60  # seconds the server's start-up checks may take, in all


def check_server(log):
    """gunicorn's ``on_starting`` (its master, before any worker): ``invx.startup``'s checks. A
    refusal is one line in gunicorn's log, then gunicorn exits with status 1.

    They run in a child process (``python -m invx.startup``): the master must not build the
    app. Modules it imported would be inherited by every worker, their locks made before
    gevent patches ``threading`` in the worker: real locks, on which a gevent worker's
    greenlets deadlock the whole worker (seen: the body watchdog's lock, taken by a
    greenlet that then yielded to start the watchdog's thread)."""
    try:
        child = subprocess.run([sys.executable, "-m", "invx.startup"], capture_output=True,
                               text=True, timeout=CHECK_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        log.error("invx cannot start: its start-up checks took more than %d s (is the "
                  "database reachable?)", CHECK_TIMEOUT)
        raise SystemExit(1) from None
    said = [line for line in child.stdout.splitlines() if line.strip()]
    if child.returncode == 0:
        for line in said:
            log.warning("%s", line)
        return
    if not said:  # not a Refusal: the last line of what the child wrote on stderr
        errors = [line for line in child.stderr.splitlines() if line.strip()]
        said = [safe_line(errors[-1]) if errors else f"exit status {child.returncode}"]
    log.error("invx cannot start: %s", said[-1])
    raise SystemExit(1)
