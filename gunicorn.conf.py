"""gunicorn settings for invx. Environment: PORT, INVX_BIND, INVX_WORKERS, INVX_THREADS."""
import multiprocessing
import os

wsgi_app = "wsgi:app"
bind = os.environ.get("INVX_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
# One worker per core, many threads each: the threads of a process are what per-series
# group commit gathers into one transaction (measured with `make bench`: 2 workers x 32
# threads gave about 1.6 times the hot-series throughput of 5 workers x 4 threads here).
workers = int(os.environ.get("INVX_WORKERS") or multiprocessing.cpu_count())
# Threads let a worker serve other requests while one waits on the database or on AT.
threads = int(os.environ.get("INVX_THREADS") or 32)
# Each worker keeps as many database connections as it has threads, so no thread waits for
# one (measured side by side, 64 clients over 64 series: about 1.2 times the throughput
# of SQLAlchemy's default pool of 5 + 10).
os.environ.setdefault("INVX_DB_POOL_SIZE", str(threads))
worker_class = "gthread" if threads > 1 else "sync"
timeout = 120  # a registration waits on AT; the registration lease outlives it
graceful_timeout = 30
keepalive = 5
accesslog = "-"
errorlog = "-"
# %(U)s is the path without the query string: ?api_key= never reaches the log.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms'
# gunicorn's control socket has one fixed path per user, which every instance on the host
# (the tests start several) would share; invx does not use gunicornc.
control_socket_disable = True
