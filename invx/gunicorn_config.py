"""gunicorn settings for invx: ``gunicorn -c python:invx.gunicorn_config`` (an installed invx
needs no file of its own; the root ``gunicorn.conf.py`` of a checkout re-exports this).

Environment: PORT, INVX_BIND, INVX_WORKERS, INVX_WORKER_CLASS, INVX_WORKER_CONNECTIONS,
INVX_THREADS, and INVX_DATABASE_URL (which picks the worker class). gunicorn reads them in
its master, before any app (and its ``config.Settings``) exists; hence this module, alone in
the package besides ``invx.config``, reads the environment, and sets INVX_DB_POOL_SIZE
there for the workers' Settings."""
import multiprocessing
import os

from invx import metrics, serving

WORKER_CLASSES = ("gevent", "gthread", "sync")


def _count(variable, default, minimum=1):
    """``variable`` as an integer; a bad value stops gunicorn with one line (gunicorn reads
    this module before any hook of invx's could answer)."""
    value = os.environ.get(variable) or str(default)
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise SystemExit(f"invx cannot start: {variable} must be an integer of at least "
                         f"{minimum}, not {value!r}")
    return number


wsgi_app = "invx.wsgi:app"
bind = os.environ.get("INVX_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# One worker per core, each serving many requests at once: the requests a process serves
# at once are what per-series group commit gathers into one transaction (measured with
# `make bench`: 2 workers x 32 threads gave about 1.6 times the hot-series throughput of
# 5 workers x 4 threads here).
workers = _count("INVX_WORKERS", multiprocessing.cpu_count())


def _on_postgresql():
    return (os.environ.get("INVX_DATABASE_URL") or "").startswith(("postgres://", "postgresql"))


# On PostgreSQL, gevent: a worker serves its requests as greenlets in one thread, and
# psycopg2 waits for the database through gevent's loop (post_fork). With `make bench`, side
# by side, that gave 1.2 to 1.4 times the throughput of 32 threads, for invx and for the
# bare HTTP stack alike: no GIL handed between threads, and cheaper waits.
# On SQLite, threads: sqlite3 waits for the database's lock inside C, which would stall
# every greenlet of the worker, the one holding the lock included.
threads = _count("INVX_THREADS", 32)
worker_class = os.environ.get("INVX_WORKER_CLASS") or (
    "gevent" if _on_postgresql() else "gthread" if threads > 1 else "sync")
if worker_class not in WORKER_CLASSES:
    raise SystemExit(f"invx cannot start: INVX_WORKER_CLASS must be one of "
                     f"{', '.join(WORKER_CLASSES)}, not {worker_class!r}")
worker_connections = _count("INVX_WORKER_CONNECTIONS", 1000)  # gevent
# Each worker keeps as many database connections as it has threads, so no thread waits for
# one (measured side by side, 64 clients over 64 series: about 1.2 times the throughput
# of SQLAlchemy's default pool of 5 + 10). Under gevent, greenlets beyond that wait for a
# connection (up to 30 s).
os.environ.setdefault("INVX_DB_POOL_SIZE", str(threads))
timeout = 120  # a registration waits on AT; the registration lease outlives it
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
# Every line gunicorn writes goes through invx's SafeFormatter: no key, password or private
# key in it, and control characters escaped (one record, one line).
logger_class = "invx.serving.SafeLogger"
# What gunicorn refuses before invx sees a request (README, "Limits"), answered in JSON.
limit_request_line = serving.LIMIT_REQUEST_LINE
limit_request_fields = serving.LIMIT_REQUEST_FIELDS
limit_request_field_size = serving.LIMIT_REQUEST_FIELD_SIZE
serving.answer_errors_in_json()
# %(U)s is the path without the query string: ?api_key= never reaches the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# gunicorn's control socket has one fixed path per user, which every instance on the host
# (the tests start several) would share; invx does not use gunicornc.
control_socket_disable = True


def post_fork(server, worker):
    if worker_class == "gevent":
        # psycopg2's waits for PostgreSQL go through gevent's loop instead of blocking the
        # worker's one thread (and every request in it); making a connection has a deadline.
        from . import database_waits
        database_waits.install()


def on_starting(server):
    serving.check_server(server.log)  # refuse to start, in one line, when invx cannot work
    metrics.on_starting(server)  # prometheus_client's multiprocess folder (invx/metrics.py)


child_exit = metrics.child_exit
on_exit = metrics.on_exit
