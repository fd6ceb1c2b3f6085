"""The bare reference app runs under invx's gunicorn settings: the same variables, the same
defaults (bench/bare/gunicorn_config.py against invx/gunicorn_config.py)."""
import os
import runpy
import sys

import pytest

SHARED = ("bind", "workers", "threads", "worker_connections", "timeout",
          "graceful_timeout", "keepalive", "errorlog", "control_socket_disable")


def settings(module, monkeypatch, **environ):
    """A gunicorn config module's values, read afresh with ``environ`` as the whole
    environment."""
    monkeypatch.setattr(os, "environ", dict(environ))
    monkeypatch.delitem(sys.modules, module, raising=False)
    return runpy.run_module(module)


@pytest.mark.parametrize("environ", [
    {},
    {"INVX_WORKERS": "3", "INVX_THREADS": "7", "INVX_WORKER_CONNECTIONS": "50",
     "INVX_BIND": "127.0.0.1:9999"},
    {"PORT": "8123"},
])
def test_the_bare_app_takes_invx_s_settings_and_defaults(monkeypatch, environ):
    database = {"INVX_DATABASE_URL": "postgresql://invx@db/invx"}
    invx = settings("invx.gunicorn_config", monkeypatch, **database, **environ)
    bare = settings("bench.bare.gunicorn_config", monkeypatch, **environ)
    assert {name: bare[name] for name in SHARED} == {name: invx[name] for name in SHARED}
    assert (invx["worker_class"], bare["worker_class"]) == ("gevent", "gevent")


def test_the_bare_app_takes_the_harness_s_worker_class_and_writes_no_access_log(monkeypatch):
    bare = settings("bench.bare.gunicorn_config", monkeypatch, BENCH_WORKER_CLASS="gthread")
    assert bare["worker_class"] == "gthread"
    assert bare["accesslog"] is None
    assert bare["wsgi_app"] == "bench.bare.app:create_app()"
