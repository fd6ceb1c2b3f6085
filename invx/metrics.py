"""``GET /metrics`` (the Prometheus text format), the requests' own metrics, and the
gunicorn hooks that let every worker's metrics add up (issue 19).

- ``register(app)`` (``create_app``): each request is counted by URL rule, method and
  status, and timed; ``/metrics`` answers what ``instruments`` holds.
- ``/metrics`` is not open to the world: it answers only a request with
  ``Authorization: Bearer <INVX_METRICS_TOKEN>`` (compared in constant time), 401
  otherwise; with no token set it does not exist (404, as any unknown path). It needs no
  account key, is not rate limited, and is not in ``/openapi.json``.
- Under gunicorn, prometheus_client's multiprocess mode: ``on_starting`` (the master,
  before any worker forks) prepares an empty folder, ``INVX_METRICS_DIR`` or a private
  temporary one, and sets ``PROMETHEUS_MULTIPROC_DIR`` to it; ``child_exit`` marks a dead
  worker's live gauges dead (its counters and histograms still count); ``on_exit`` removes
  the folder. gunicorn.conf.py calls them. Outside gunicorn (tests, the CLI), the usual
  registry of one process.

This module is imported by gunicorn's master before that folder exists: it imports
prometheus_client (through ``instruments``) only inside its functions.
"""
import glob
import hmac
import logging
import os
import shutil
import tempfile
import time

from flask import Blueprint, Response, abort, request

from . import config

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)
STARTED = "invx.metrics.started"  # the request's start (perf_counter), in its WSGI environ
TEMPORARY_PREFIX = "invx-metrics-"
_made = []  # the temporary folder on_starting made, which on_exit removes


def register(app):
    """Count and time every request, and serve ``/metrics``."""
    from .instruments import RequestMetrics, counted_apart

    if counted_apart(config.metrics_directory()):
        log.error("prometheus_client was loaded before PROMETHEUS_MULTIPROC_DIR was set "
                  "(gunicorn's preload_app?): /metrics shows one worker's counts only; "
                  "unset preload_app")
    measured = RequestMetrics()

    def start():
        request.environ[STARTED] = time.perf_counter()
        measured.started()

    def finish(response):
        started = request.environ.get(STARTED)
        rule = request.url_rule
        measured.finished(rule.rule if rule is not None else None, request.method,
                          response.status_code,
                          None if started is None else time.perf_counter() - started)
        return response

    app.before_request(start)
    app.after_request(finish)
    app.register_blueprint(bp)


@bp.get("/metrics")
def metrics():
    from . import errors, instruments
    from .auth import bearer_key

    token = config.current().metrics_token
    if token is None:
        abort(404)
    given = bearer_key(request.headers.get("Authorization")) or ""
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise errors.MetricsUnauthorized()
    body, content_type = instruments.exposition(config.metrics_directory())
    return Response(body, content_type=content_type, headers={"Cache-Control": "no-store"})


# gunicorn's server hooks (gunicorn.conf.py calls them; ``server`` is its Arbiter).

def on_starting(server):
    """In the master, before any worker: an empty folder for the workers' metrics, set as
    ``PROMETHEUS_MULTIPROC_DIR`` (inherited by every worker it forks)."""
    try:
        configured = config.Settings.from_environment().metrics_dir
    except config.ConfigError as error:
        raise RuntimeError(f"invx: {error}") from None  # gunicorn prints it as one line
    try:
        directory = _prepare(configured)
    except OSError as error:
        raise RuntimeError(
            f"invx: INVX_METRICS_DIR {configured!r} cannot be used for the workers' metrics "
            f"({error.strerror or error}): make it a folder invx can write, or unset it"
        ) from None
    config.set_metrics_directory(directory)
    server.log.info("metrics of the workers kept in %s", directory)


def _prepare(configured):
    if configured is None:
        directory = tempfile.mkdtemp(prefix=TEMPORARY_PREFIX)
        _made.append(directory)
        return directory
    os.makedirs(configured, exist_ok=True)
    _empty(configured)  # values a previous server left would be added to this one's
    return configured


def _empty(directory):
    """Remove prometheus_client's files (``*.db``) from ``directory``, and nothing else."""
    for path in glob.glob(os.path.join(glob.escape(directory), "*.db")):
        os.remove(path)


def child_exit(server, worker):
    """In the master, once a worker has exited: its live gauges stop counting (its counters
    and histograms stay in the sums)."""
    directory = config.metrics_directory()
    if directory is None:
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, directory)


def on_exit(server):
    """In the master, on the way out: the workers' metrics files are removed (the
    temporary folder with them)."""
    directory = config.metrics_directory()
    if directory is None:
        return
    if directory in _made:
        shutil.rmtree(directory, ignore_errors=True)
        _made.remove(directory)
    else:
        _empty(directory)
    config.set_metrics_directory(None)
