"""gunicorn settings of the bare reference app (``bench.bare.app``): invx's production
settings (``invx/gunicorn_config.py``), read from the same variables with the same
defaults (tests/bench checks they agree), but the worker class, which ``make bench`` sets
in BENCH_WORKER_CLASS to try both, and the access log, which the references do not write:
it is one of invx's costs. invx's module is not imported: it changes how gunicorn answers
its own errors, for invx."""
import multiprocessing
import os

wsgi_app = "bench.bare.app:create_app()"
bind = os.environ.get("INVX_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("INVX_WORKERS") or multiprocessing.cpu_count())
threads = int(os.environ.get("INVX_THREADS") or 32)  # also each worker's connections
worker_class = os.environ.get("BENCH_WORKER_CLASS") or "gevent"
worker_connections = int(os.environ.get("INVX_WORKER_CONNECTIONS") or 1000)
timeout = 120
graceful_timeout = 30
keepalive = 5
accesslog = None
errorlog = "-"
# One control socket path per user would be shared with invx's gunicorn on the same host.
control_socket_disable = True


def post_fork(server, worker):
    if worker_class == "gevent":
        # psycopg2 waits for PostgreSQL through gevent's loop, as under invx.
        from psycogreen.gevent import patch_psycopg
        patch_psycopg()
