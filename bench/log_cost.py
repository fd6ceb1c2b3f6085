"""``python -m bench.log_cost``: what one request's logging costs (issue 19; issue 20 measures
the whole). CPU microseconds per request, best of five rounds, for each part invx adds:

- the request id (``logs.RequestIds`` around a WSGI app that does nothing);
- the access line, JSON and text, through ``serving.SafeLogger.access`` and its handler's
  formatter, written to /dev/null; and gunicorn's own access line through the
  ``SafeFormatter`` invx used before, for comparison;
- an application line (a ``logging`` record of invx) in JSON, inside a request.

Single process, no I/O but the write to /dev/null: an upper bound of the CPU, not a load test.
"""
import logging
import os
import time
import timeit
from datetime import timedelta

from gunicorn.config import Config

from invx import logs, serving
from invx.log_safety import SafeFormatter

ROUNDS, NUMBER = 5, 20_000


class _Response:  # what gunicorn's access() reads of its response
    status = "200 OK"
    sent = 187
    headers = [("Content-Type", "application/json"), ("Content-Length", "187"),
               ("X-Request-ID", "3f2b8c1e9d7a4b6c8e0f1a2b3c4d5e6f")]


class _Request:
    headers = [("HOST", "127.0.0.1:8000"), ("USER-AGENT", "python-requests/2.34"),
               ("AUTHORIZATION", "Bearer [not a real key]"), ("ACCEPT", "*/*")]


def _environ():
    return {"REQUEST_METHOD": "PUT", "PATH_INFO": "/sequence/v1/series/3fa85f64-5717-4562-b3fc"
            "-2c963f66afa6/entries/0b7e3c1a-4c2d-4e8f-9a1b-2c3d4e5f6a7b",
            "RAW_URI": "/sequence/v1/series/x/entries/y", "QUERY_STRING": "",
            "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1",
            "HTTP_X_REQUEST_ID": "client-id-1",
            logs.FIELDS: {"request_id": "client-id-1", "account": "acme-es",
                          "series": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "number": 1234}}


def _best(statement):
    """CPU time (this process's, not the wall clock: the machine may be shared)."""
    return min(timeit.repeat(statement, number=NUMBER, repeat=ROUNDS,
                             timer=time.process_time)) / NUMBER * 1e6


def _access_logger(log_format, devnull):
    os.environ["INVX_LOG_FORMAT"] = log_format
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms')
    logger = serving.SafeLogger(config)
    for handler in logger.access_log.handlers:
        handler.setStream(devnull)
    return logger


def main():
    devnull = open(os.devnull, "w")  # noqa: SIM115 (for the process's life)
    environ, response, request = _environ(), _Response(), _Request()
    took = timedelta(microseconds=1830)

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    wrapped = logs.RequestIds(app)
    results = {"request id (middleware)": _best(lambda: wrapped(dict(environ), _start))
               - _best(lambda: app(dict(environ), _start))}
    for log_format in ("json", "text"):
        logger = _access_logger(log_format, devnull)
        results[f"access line, {log_format}"] = _best(
            lambda logger=logger: logger.access(response, request, environ, took))
    before = _access_logger("text", devnull)
    for handler in before.access_log.handlers:
        handler.setFormatter(SafeFormatter("%(message)s"))
    results["access line, before (gunicorn atoms + SafeFormatter)"] = _best(
        lambda: before.access(response, request, environ, took))
    results["an invx line inside a request, json"] = _app_line(devnull)
    for what, micros in results.items():
        print(f"{what:<56} {micros:6.1f} µs")


def _start(status, headers, exc_info=None):
    return None


def _app_line(devnull):
    handler = logging.StreamHandler(devnull)
    handler.setFormatter(logs.formatter("json"))
    log = logging.getLogger("invx.bench")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    logs.RequestIds(lambda environ, start: [])(_environ(), _start)  # binds its fields
    return _best(lambda: log.info("resumed %s (sequence %s)", "2026", 42))


if __name__ == "__main__":
    main()
