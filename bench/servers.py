"""The servers a benchmark drives, each under gunicorn on a free loopback port: invx with
its production configuration, and the bare reference app (``bench.bare``) with the same
settings and a worker class of the harness's choosing."""
import socket
import subprocess
import time
from pathlib import Path

import requests

from .harness import PYTHON, ROOT

WORKER_CLASSES = ("gevent", "gthread")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def invx_app(root):
    """invx's WSGI app in the checkout ``root``: ``invx.wsgi:app``, or the root ``wsgi.py``
    of a checkout from before invx/wsgi.py existed."""
    return "invx.wsgi:app" if (Path(root) / "invx" / "wsgi.py").exists() else "wsgi:app"


class Gunicorn:
    """``gunicorn -c config app`` run from ``root``; ready once it answers ``ready_path``
    (whatever the status)."""

    def __init__(self, config, app, env, log, root=ROOT, ready_path="/"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", config, app], cwd=root,
            env={**env, "INVX_BIND": f"127.0.0.1:{self.port}"}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + ready_path, timeout=2)
                return
            except requests.RequestException:
                if self.process.poll() is not None:
                    break
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start ({app}): see {log}")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Server(Gunicorn):
    """invx alone, as production serves it: ``gunicorn -c gunicorn.conf.py invx.wsgi:app``
    from the checkout ``root``."""

    def __init__(self, env, log, root=ROOT):
        super().__init__("gunicorn.conf.py", invx_app(root), env, log, root,
                         ready_path="/openapi.json")


class ReferenceServer(Gunicorn):
    """The bare reference app under ``worker_class`` (gevent or gthread), its naive design
    on ``database_url``; from the checkout ``root`` (this one unless said)."""

    def __init__(self, env, database_url, worker_class, log, root=ROOT):
        self.worker_class = worker_class
        super().__init__("python:bench.bare.gunicorn_config", "bench.bare.app:create_app()",
                         {**env, "BENCH_DATABASE_URL": database_url,
                          "BENCH_WORKER_CLASS": worker_class}, log, root)
