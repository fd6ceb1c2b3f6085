"""Fixtures every test directory uses: an app on a migrated database (SQLite, or
PostgreSQL when ``INVX_TEST_DATABASE_URL`` is set), a client, accounts, the settings, the
local AT server and live gunicorn servers."""
import ipaddress
import secrets
import socket

import flask_migrate
import pytest
from sqlalchemy import delete

from invx import create_app, document_keys
from invx.accounts import create_account
from invx.auth import key_gate
from invx.config import EXTENSION, settings_of
from invx.extensions import db
from invx.models import SigningKey
from invx.tax_authority import reachability

from .support.live import LiveServer
from .support.postgres import (
    POSTGRES_URL,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
)
from .support.redis import redis_or_skip
from .support.settings import suite_settings

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
    app = create_app(suite_settings(database_url,
                                    instance_path=str(tmp_path_factory.mktemp("instance"))),
                     TESTING=True)
    with app.app_context():
        flask_migrate.upgrade()
    return app


# Emptied after each test: every table but the server's signing keys (they are the
# server's, not an account's), children first.
EMPTIED = [table for table in reversed(db.metadata.sorted_tables)
           if table is not SigningKey.__table__]


@pytest.fixture(autouse=True)
def _empty_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        for table in EMPTIED:
            db.session.execute(delete(table))
        db.session.commit()
    key_gate.reset()  # the keys it saw are gone with their accounts
    reachability.forget()  # what this process saw of the Tax Authorities, for /readyz
    document_keys.forget()  # the keys it unsealed, of accounts now gone


@pytest.fixture
def settings(app, monkeypatch):
    """Change the app's settings for one test: ``settings(at_read_timeout=2.0)``; returns
    them. Undone after the test."""

    def change(**changes):
        changed = settings_of(app).replace(**changes)
        monkeypatch.setitem(app.extensions, EXTENSION, changed)
        return changed

    return change


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
def key(make_account):
    """The API key of ``acme``, a Portuguese account on the sandbox Tax Authority."""
    return make_account()


@pytest.fixture
def fake_at():
    """The local AT server (invx fake-at), in a thread on 127.0.0.1."""
    from invx.tax_authority.fake_at import start_in_thread
    server = start_in_thread()
    yield server
    server.stop()


@pytest.fixture
def one_connection_app(tmp_path):
    """An app whose pool holds one connection and waits 0.2 s for it."""
    app = create_app(suite_settings(f"sqlite:///{tmp_path}/invx.sqlite3", db_pool_size=1),
                     TESTING=True,
                     SQLALCHEMY_ENGINE_OPTIONS={"max_overflow": 0, "pool_timeout": 0.2})
    with app.app_context():
        flask_migrate.upgrade()
        _, es_key = create_account("acme-es", "ES", "B12345678", None, "none")
        _, pt_key = create_account("acme", "PT", "123456789", None, "sandbox")
    yield app, es_key, pt_key
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def other_app(app, database_url, tmp_path):
    """Another app on the suite's database, as another worker or machine would be, with
    changed settings: ``other_app(rate_limit="3/minute")``."""
    apps = []

    def make(**changes):
        apps.append(create_app(suite_settings(database_url, instance_path=str(tmp_path),
                                              **changes), TESTING=True))
        return apps[-1]

    yield make
    for made in apps:
        with made.app_context():
            db.engine.dispose()


@pytest.fixture
def redis_prefix():
    """A key prefix of the test's own in the machine's Redis (the test skips without one);
    its keys are removed after the test."""
    client = redis_or_skip()
    prefix = f"invx-test-{secrets.token_hex(8)}"
    yield prefix
    for name in client.scan_iter(match=f"{prefix}:*"):
        client.delete(name)
    client.close()


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
