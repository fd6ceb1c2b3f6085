"""A new PostgreSQL connection to a host that answers nothing fails in
INVX_DB_CONNECT_TIMEOUT even when psycopg2 does not block, as under gunicorn's gevent worker
(psycogreen): a primary's machine gone, its standby listed next, must not hold requests."""
import contextlib
import socket
import time

import psycopg2.extensions
import psycopg2.extras
import pytest

from invx import create_app

from .support.postgres import POSTGRES_URL, requires_postgres
from .support.settings import suite_settings


@pytest.fixture
def unanswered_port():
    """A loopback port whose SYNs are never answered: its accept queue is full."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # queued, or left unanswered: either way
            filler.connect(("127.0.0.1", port))
    time.sleep(0.2)
    yield port
    for sock in (*fillers, listener):
        sock.close()


@pytest.fixture
def without_blocking():
    """psycopg2 connects and waits as it does under psycogreen: through a wait callback."""
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    yield
    psycopg2.extensions.set_wait_callback(None)


def readyz_of_port(port):
    """/readyz of an app on the database at ``port`` (connect timeout 1 s): the answer,
    and the seconds it took."""
    app = create_app(suite_settings(f"postgresql://nobody@127.0.0.1:{port}/none",
                                    db_connect_timeout=1))
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    return response, time.monotonic() - started


def test_a_host_that_answers_no_syn_fails_a_request_in_the_connect_timeout(
        unanswered_port, without_blocking):
    response, waited = readyz_of_port(unanswered_port)
    assert response.status_code == 503
    assert waited < 5  # without tcp_user_timeout: the kernel's SYN retries, two minutes


@pytest.fixture
def silent_port():
    """A loopback port that accepts connections (the kernel completes them) and never says
    a word: a frozen server."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def green_waits():
    """psycopg2 waits as it does in a gunicorn gevent worker (invx.database_waits)."""
    from invx import database_waits
    database_waits.install()
    yield
    psycopg2.extensions.set_wait_callback(None)


def test_a_server_that_accepts_and_never_answers_fails_a_request_in_the_connect_timeout(
        silent_port, green_waits):
    response, waited = readyz_of_port(silent_port)
    assert response.status_code == 503
    check = response.get_json()["checks"]["database:responseTime"][0]
    assert "did not answer in 1 s" in check["output"]
    assert waited < 5  # without the deadline: for ever (tcp_user_timeout does not apply)


def test_the_deadline_is_the_connections_connect_timeout():
    from invx.database_waits import connect_timeout
    assert connect_timeout("host=h connect_timeout=5") == 5
    assert connect_timeout("host=h") is None
    assert connect_timeout("host=h connect_timeout=0") is None


@requires_postgres
def test_once_connected_waits_have_no_deadline(green_waits):
    """A commit waiting for a synchronous standby must not be cut short: a statement
    longer than connect_timeout runs to its end."""
    connection = psycopg2.connect(POSTGRES_URL, connect_timeout=1)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(1.5), 'done'")
            assert cursor.fetchone()[1] == "done"
    finally:
        connection.close()
