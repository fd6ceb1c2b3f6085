"""A database that cannot serve a request now gets 503 and Retry-After, never a 500.

Each test makes an app of its own (a pool of one connection, or a database nobody listens
for), so they run the same with or without PostgreSQL."""
import uuid

from invx import create_app
from invx.config import Settings
from invx.extensions import db

from .support.live import free_port
from .support.settings import TEST_SECRET

ENTRY_BODY = {"meta": {"order": "1"}}


def _busy(app):
    """Every connection of the app's pool (it holds one), checked out until closed."""
    with app.app_context():
        return db.engine.connect()


def test_an_entry_request_that_finds_every_connection_busy_is_503_and_can_be_retried(
        one_connection_app):
    app, key, _ = one_connection_app
    client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
    series = str(uuid.uuid4())
    assert client.put(f"/sequence/v1/series/{series}", json={"name": "s"},
                      headers=headers).status_code == 200
    entry = f"/sequence/v1/series/{series}/entries/{uuid.uuid4()}"

    held = _busy(app)
    try:
        response = client.put(entry, json=ENTRY_BODY, headers=headers)
    finally:
        held.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {
        "code": "unavailable", "message": "The database is unreachable or busy. Retry in a moment."}

    retried = client.put(entry, json=ENTRY_BODY, headers=headers)
    assert retried.status_code == 200
    assert retried.get_json()["code"] == "1"  # the refused request took no number


def test_an_invoicexpress_request_that_finds_every_connection_busy_is_503(one_connection_app):
    app, _, key = one_connection_app
    held = _busy(app)
    try:
        response = app.test_client().get(f"/sequences.json?api_key={key}")
    finally:
        held.close()
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json() == {"code": "000", "message": "Unknown error."}


def test_a_database_nobody_listens_for_is_503_without_its_address(caplog):
    port = free_port()  # bound a moment ago, then closed: nothing listens there
    app = create_app(Settings(secret_key=TEST_SECRET,
                              database_url=f"postgresql://invx:hunter2@127.0.0.1:{port}/x"),
                     TESTING=True)
    client = app.test_client()
    headers = {"Authorization": f"Bearer {'a' * 40}"}
    sequence_api = client.put(f"/sequence/v1/series/{uuid.uuid4()}/entries/{uuid.uuid4()}",
                              json=ENTRY_BODY, headers=headers)
    invoicexpress = client.get(f"/sequences.json?api_key={'a' * 40}")
    for response in (sequence_api, invoicexpress):
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert str(port).encode() not in response.data
    assert sequence_api.get_json()["code"] == "unavailable"
    assert "database unavailable" in caplog.text
    assert "hunter2" not in caplog.text
