"""gunicorn serving invx on 127.0.0.1 for the tests that need a real server."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from .settings import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    """gunicorn serving invx on 127.0.0.1, as ``make run`` does, on the test database."""

    def __init__(self, database_url, log_path, workers=2, **env):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        environment = {**os.environ, "INVX_DATABASE_URL": database_url,
                       "INVX_BIND": f"127.0.0.1:{self.port}", "INVX_WORKERS": str(workers),
                       "INVX_SECRET_KEY": TEST_SECRET,
                       **{name: str(value) for name, value in env.items()}}
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT,
            env=environment, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)  # its own process group, for crash()
        try:
            self._wait_until_up()
        except BaseException:
            self.crash()  # never leave a half-started server behind
            self.log.close()
            raise

    def _wait_until_up(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log_path.read_text()[-2000:]}")
            try:
                requests.get(self.url + "/openapi.json", timeout=2)
                return
            except requests.RequestException:  # not listening yet, or a busy machine
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in time")

    def crash(self):
        """SIGKILL gunicorn and its workers at once, as a machine failure would."""
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self):
        if self.process.poll() is not None:
            self.log.close()
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()
