"""The metrics invx keeps (``prometheus_client``), and the calls that move them.

Knows nothing of Flask: the domain counts its own events here (entries, batches, calls
to AT), the edge its requests (``metrics``), and ``errors`` its 429s and 503s. Every label
takes a value from a short, fixed set (a URL rule, a method, a status, an API, an adapter,
an operation, an outcome, a cause), never an id, a key or an account: the number of
series Prometheus keeps stays bounded whatever the traffic.

Under gunicorn each worker writes its values to files of its own in
``PROMETHEUS_MULTIPROC_DIR`` (``metrics.on_starting`` prepares it in the master), and a
scrape adds them up (``exposition``). prometheus_client picks that mode when it is first
imported, so this module must not be imported in gunicorn's master before the folder is
set: ``metrics`` imports it only inside its functions.
"""
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    values,
)

# The ``_created`` series a counter gets in one process only: the same output either way.
disable_created_metrics()

APIS = ("invoicexpress", "sequence_service")
# What a 503 can be answered for: the database (unreachable, busy, locked), the signing
# key (INVX_SECRET_KEY missing or changed), and /readyz (not ready: the database again).
UNAVAILABLE_CAUSES = ("database", "signing_unavailable", "not_ready")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "invx_http_requests_total", "HTTP requests answered, by URL rule, method and status.",
    ["endpoint", "method", "status"])
REQUEST_DURATION = Histogram(
    "invx_http_request_duration_seconds",
    "Time from the request's start to its answer, by URL rule and method.",
    ["endpoint", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
IN_PROGRESS = Gauge(
    "invx_http_requests_in_progress", "Requests being served now.",
    multiprocess_mode="livesum")
ENTRIES = Counter(
    "invx_entries_issued_total",
    "Entries issued (new numbers), by the API whose series numbered them.", ["api"])
BATCH_REQUESTS = Histogram(
    "invx_group_commit_batch_requests",
    "Entry requests written in one group-commit transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
BATCH_DURATION = Histogram(
    "invx_group_commit_batch_duration_seconds",
    "Time of one group-commit transaction, from BEGIN (the series' lock wait included) "
    "to COMMIT.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
AT_CALLS = Counter(
    "invx_at_calls_total", "Calls to a Tax Authority, by adapter, operation and outcome.",
    ["adapter", "operation", "outcome"])
AT_CALL_DURATION = Histogram(
    "invx_at_call_duration_seconds", "Time of a call to a Tax Authority.",
    ["adapter", "operation"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
RATE_LIMITED = Counter(
    "invx_rate_limited_requests_total",
    "Requests refused with 429 (INVX_RATE_LIMIT), by API.", ["api"])
UNAVAILABLE = Counter(
    "invx_unavailable_responses_total", "Answers 503, by cause.", ["cause"])

# Known label values start at 0, so that rate() sees their first event.
for _api in APIS:
    ENTRIES.labels(_api)
    RATE_LIMITED.labels(_api)
for _cause in UNAVAILABLE_CAUSES:
    UNAVAILABLE.labels(_cause)


class RequestMetrics:
    """What one answered request moves. ``labels()`` takes a lock and builds a key each
    time; the children are kept here instead (a dict read under the GIL), since a
    server sees the same few label values over and over."""

    def __init__(self):
        self._counted, self._timed = {}, {}

    def started(self):
        IN_PROGRESS.inc()

    def finished(self, endpoint, method, status, seconds):
        """``endpoint`` is the URL rule (None: no rule matched), ``seconds`` None when the
        start was not seen (nor counted in progress)."""
        endpoint = endpoint or "unmatched"
        method = method if method in METHODS else "other"
        key = (endpoint, method, status)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = REQUESTS.labels(endpoint, method, str(status))
        counter.inc()
        if seconds is not None:
            IN_PROGRESS.dec()
            histogram = self._timed.get(key[:2])
            if histogram is None:
                histogram = self._timed[key[:2]] = REQUEST_DURATION.labels(endpoint, method)
            histogram.observe(seconds)


def batch_committed(requests, issued, seconds):
    """A group-commit batch of ``requests`` was committed in ``seconds``; ``issued`` is
    {API: new entries} (the other requests were replays or refusals)."""
    BATCH_REQUESTS.observe(requests)
    BATCH_DURATION.observe(seconds)
    for api, count in issued.items():
        ENTRIES.labels(api).inc(count)


def at_call(adapter, operation, outcome, seconds):
    AT_CALLS.labels(adapter, operation, outcome).inc()
    AT_CALL_DURATION.labels(adapter, operation).observe(seconds)


def rate_limited(api):
    RATE_LIMITED.labels(api).inc()


def unavailable(cause):
    UNAVAILABLE.labels(cause).inc()


def counted_apart(directory):
    """Whether this process counts on its own although ``directory`` (the workers' metrics
    folder) is set: prometheus_client was imported before it was."""
    return directory is not None and values.ValueClass is values.MutexValue


def exposition(directory=None):
    """(body, content type) of a scrape: this process's metrics, or with ``directory``
    (``PROMETHEUS_MULTIPROC_DIR``) every worker's added up, the dead ones' included."""
    if directory is None:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=directory)
    return generate_latest(registry), CONTENT_TYPE_LATEST
