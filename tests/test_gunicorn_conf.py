"""The production gunicorn configuration: which worker class, and green database waits."""
import os
import runpy
import sys
import threading
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import text

from invx.extensions import db

from .support.postgres import requires_postgres

CONF = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"


def settings(monkeypatch, **environ):
    """invx.gunicorn_config's settings, read afresh with ``environ`` as the whole
    environment (run_module: the module imported once would keep its first values)."""
    monkeypatch.setattr(os, "environ", dict(environ))
    monkeypatch.delitem(sys.modules, "invx.gunicorn_config", raising=False)
    return runpy.run_module("invx.gunicorn_config")


def test_gunicorn_takes_the_packages_config_and_its_hooks_by_module_name(monkeypatch):
    # What `gunicorn -c python:invx.gunicorn_config` does, with no file of the checkout.
    from gunicorn.app.wsgiapp import WSGIApplication

    monkeypatch.setattr(os, "environ", {"INVX_DATABASE_URL": "postgresql://invx@db/invx"})
    monkeypatch.setattr(sys, "argv", ["gunicorn", "-c", "python:invx.gunicorn_config"])
    monkeypatch.delitem(sys.modules, "invx.gunicorn_config", raising=False)  # read afresh
    app = WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]", prog="gunicorn")
    assert app.app_uri == "invx.wsgi:app"
    assert app.cfg.worker_class_str == "gevent"
    assert (app.cfg.post_fork.__module__, app.cfg.post_fork.__name__) == \
        ("invx.gunicorn_config", "post_fork")
    assert app.cfg.logger_class.__name__ == "SafeLogger"


def test_invx_wsgi_app_is_invx(monkeypatch, tmp_path):
    monkeypatch.setenv("INVX_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("INVX_DATABASE_URL", raising=False)
    monkeypatch.delitem(sys.modules, "invx.wsgi", raising=False)
    app = runpy.run_module("invx.wsgi")["app"]
    assert app.name == "invx"
    assert app.test_client().get("/livez").status_code == 200


def test_the_checkouts_gunicorn_conf_is_the_packages_config(monkeypatch):
    monkeypatch.setattr(os, "environ", {})
    shim = runpy.run_path(str(CONF))
    assert shim["wsgi_app"] == "invx.wsgi:app"
    assert shim["post_fork"].__module__ == "invx.gunicorn_config"
    assert shim["logger_class"] == "invx.serving.SafeLogger"


@pytest.mark.parametrize("url", ["postgresql://invx@db/invx", "postgres://invx@db/invx",
                                 "postgresql+psycopg2://invx@db/invx"])
def test_postgresql_is_served_by_gevent_workers(monkeypatch, url):
    conf = settings(monkeypatch, INVX_DATABASE_URL=url)
    assert conf["worker_class"] == "gevent"
    assert conf["worker_connections"] == 1000
    assert os.environ["INVX_DB_POOL_SIZE"] == "32"


@pytest.mark.parametrize("environ, expected", [
    ({}, "gthread"),  # the embedded SQLite database
    ({"INVX_DATABASE_URL": "sqlite:////var/lib/invx/invx.sqlite3"}, "gthread"),
    ({"INVX_THREADS": "1"}, "sync"),
])
def test_sqlite_keeps_threads(monkeypatch, environ, expected):
    assert settings(monkeypatch, **environ)["worker_class"] == expected


def test_the_worker_class_and_its_sizes_can_be_chosen(monkeypatch):
    conf = settings(monkeypatch, INVX_DATABASE_URL="postgresql://invx@db/invx",
                    INVX_WORKER_CLASS="gthread", INVX_THREADS="8",
                    INVX_WORKER_CONNECTIONS="200")
    assert (conf["worker_class"], conf["threads"], conf["worker_connections"]) == \
        ("gthread", 8, 200)
    assert os.environ["INVX_DB_POOL_SIZE"] == "8"


@requires_postgres
@pytest.mark.live
def test_a_request_waiting_on_postgresql_does_not_stall_its_gevent_worker(
        app, es_key, live_server):
    # One gevent worker, one thread. A request for series A waits on A's row lock, held
    # here; a request for series B must still be answered meanwhile. Were psycopg2's waits
    # not green, the worker's only thread would be stuck in libpq until the lock is freed.
    server = live_server(workers=1)
    headers = {"Authorization": f"Bearer {es_key}"}
    base = f"{server.url}/sequence/v1/series"
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for series in (first, second):
        requests.put(f"{base}/{series}", json={"name": series}, headers=headers,
                     timeout=10).raise_for_status()
    answers = {}

    def blocked():
        answers["first"] = requests.put(f"{base}/{first}/entries/{uuid.uuid4()}", json={},
                                        headers=headers, timeout=30)

    with app.app_context(), db.engine.connect() as holder:
        holder.execute(text("SELECT id FROM series WHERE id = :id FOR UPDATE"), {"id": first})
        waiting = threading.Thread(target=blocked)
        waiting.start()
        waiting.join(1.0)
        assert waiting.is_alive(), "the first request should wait for the row lock"
        other = requests.put(f"{base}/{second}/entries/{uuid.uuid4()}", json={},
                             headers=headers, timeout=10)
        assert other.status_code == 200, other.text
        assert waiting.is_alive()
        holder.rollback()
    waiting.join(30)
    assert answers["first"].status_code == 200, answers["first"].text
    assert "Using worker: gevent" in server.log_path.read_text()


@pytest.mark.parametrize(("environ", "said"), [
    ({"INVX_THREADS": "abc"}, "INVX_THREADS must be an integer of at least 1, not 'abc'"),
    ({"INVX_WORKERS": "0"}, "INVX_WORKERS must be an integer of at least 1, not '0'"),
    ({"INVX_WORKER_CONNECTIONS": "many"}, "INVX_WORKER_CONNECTIONS must be an integer"),
    ({"INVX_WORKER_CLASS": "tornado"},
     "INVX_WORKER_CLASS must be one of gevent, gthread, sync, not 'tornado'"),
])
def test_a_bad_server_setting_stops_gunicorn_in_one_line(monkeypatch, environ, said):
    """gunicorn reads these before any hook of invx's runs: SystemExit's one line, not
    int()'s traceback."""
    with pytest.raises(SystemExit) as stopped:
        settings(monkeypatch, **environ)
    assert str(stopped.value).startswith("invx cannot start: ")
    assert said in str(stopped.value)


def test_the_master_checks_the_server_without_importing_the_app(tmp_path):
    """gunicorn's master runs invx's start-up checks in a child process: a module the
    master imports is inherited by the gevent workers with locks made before gevent patched
    threading (real locks: a greenlet waiting on one deadlocks its whole worker, as the
    body watchdog's did). Only the modules the master's own settings and logging need."""
    import subprocess
    script = (
        "import logging, runpy, sys\n"
        "conf = runpy.run_module('invx.gunicorn_config')\n"
        "class Server: log = logging.getLogger('master')\n"
        "conf['on_starting'](Server)\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('invx'))))\n")
    environ = {**os.environ, "INVX_INSTANCE_PATH": str(tmp_path)}
    environ.pop("INVX_DATABASE_URL", None)
    subprocess.run([sys.executable, "-m", "invx", "db", "upgrade"], env=environ, check=True,
                   capture_output=True, timeout=120)
    done = subprocess.run([sys.executable, "-c", script], env=environ, capture_output=True,
                          text=True, timeout=120, check=True)
    imported = set(done.stdout.split())
    assert imported <= {"invx", "invx.config", "invx.config_values", "invx.log_safety",
                        "invx.logs", "invx.metrics", "invx.serving"}, imported
