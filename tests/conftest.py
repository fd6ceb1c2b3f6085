"""Fixtures: an app on a migrated database (SQLite, or PostgreSQL when
``INVX_TEST_DATABASE_URL`` is set), a client, accounts, and a live gunicorn server."""
import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import flask_migrate
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from invx import create_app
from invx.accounts import create_account
from invx.config import database_url as normalise_url
from invx.extensions import db

ROOT = Path(__file__).resolve().parent.parent
# One INVX_SECRET_KEY for the whole run: the server's signing keys are sealed with it, so
# the test app and every gunicorn it starts must share it.
TEST_SECRET = "the-test-suite-secret-key-0123456789"
POSTGRES_URL = os.environ.get("INVX_TEST_DATABASE_URL")
# Emptied after each test. Signing keys stay: they are the server's, not an account's.
TABLES = ("entries", "at_calls", "series", "sequences", "accounts", "sandbox_series")

_real_getaddrinfo = socket.getaddrinfo


def _loopback_only_getaddrinfo(host, *args, **kwargs):
    """Tests talk to this machine only: any other host is refused before a packet leaves."""
    results = _real_getaddrinfo(host, *args, **kwargs) if _is_local_name(host) else []
    if not results or not all(ipaddress.ip_address(r[4][0]).is_loopback for r in results):
        raise OSError(f"tests may only reach loopback addresses, not {host!r}")
    return results


def _is_local_name(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host in ("localhost", None):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


socket.getaddrinfo = _loopback_only_getaddrinfo

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="needs PostgreSQL (row locks, concurrency): set INVX_TEST_DATABASE_URL; CI does")


def postgres_schema_url(schema):
    """The test server's URL with ``search_path`` set to a schema of our own."""
    url = make_url(normalise_url(POSTGRES_URL))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def create_postgres_schema():
    """A fresh, empty schema on the test server. Fails (never skips) if it is unreachable."""
    schema = f"invx_test_{secrets.token_hex(4)}"
    engine = create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema


def drop_postgres_schema(schema):
    engine = create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    if POSTGRES_URL:
        schema = create_postgres_schema()
        yield postgres_schema_url(schema)
        drop_postgres_schema(schema)
    else:
        yield "sqlite:///" + str(tmp_path_factory.mktemp("db") / "invx.sqlite3")


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    app = create_app({
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INVX_SANDBOX_LATENCY": 0.0,
        "INVX_SECRET_KEY": TEST_SECRET,
    })
    app.instance_path = str(tmp_path_factory.mktemp("instance"))
    with app.app_context():
        flask_migrate.upgrade()
    return app


@pytest.fixture(autouse=True)
def _empty_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        for table in TABLES:
            db.session.execute(text(f"DELETE FROM {table}"))
        db.session.commit()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_account(app):
    """Create an account; returns its API key."""

    def make(name="acme", country="PT", fiscal_id="123456789", tax_authority="sandbox",
             api_key=None):
        with app.app_context():
            _, key = create_account(name, country, fiscal_id, api_key, tax_authority)
        return key

    return make


@pytest.fixture
def es_key(make_account):
    """The API key of an account outside Portugal (no AT): the Sequence Service's client."""
    return make_account(tax_authority="none", country="ES", fiscal_id="B12345678",
                        name="acme-es")


@pytest.fixture
def fake_at():
    """The local AT server (invx fake-at), in a thread on 127.0.0.1."""
    from invx.tax_authority.fake_at import start_in_thread
    server = start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def key(make_account):
    """The API key of ``acme``, a Portuguese account on the sandbox Tax Authority."""
    return make_account()


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


@pytest.fixture
def live_server(app, database_url, tmp_path):
    """Start gunicorn with extra ``INVX_*`` settings: ``live_server(INVX_...=...)``."""
    servers = []

    def start(workers=2, **env):
        server = LiveServer(database_url, tmp_path / f"gunicorn-{len(servers)}.log", workers, **env)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
