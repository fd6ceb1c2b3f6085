"""A database that has become read-only (an old primary fenced or demoted after a
failover) is a database unavailable: 503 with Retry-After, its connections dropped so the
next ones look for the primary again; never a 500."""
import uuid

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from invx import create_app
from invx.extensions import db

from .support.postgres import requires_postgres
from .support.sequence_service import API, SALES, put_series
from .support.settings import suite_settings

pytestmark = requires_postgres


@pytest.fixture
def read_only_app(app, database_url, tmp_path):
    """An app on the suite's (migrated) database, every transaction of it read-only."""
    url = make_url(database_url)
    options = (url.query.get("options", "") + " -cdefault_transaction_read_only=on").strip()
    read_only = create_app(suite_settings(
        url.update_query_dict({"options": options}).render_as_string(hide_password=False),
        instance_path=str(tmp_path)), TESTING=True)
    yield read_only
    with read_only.app_context():
        db.engine.dispose()


def test_a_write_to_a_read_only_server_is_503_and_its_connection_is_dropped(
        read_only_app, key):
    auth = {"Authorization": f"Bearer {key}"}
    client = read_only_app.test_client()
    connected = []
    with read_only_app.app_context():
        event.listen(db.engine, "connect", lambda *_: connected.append(1))
    for _ in range(2):
        response = put_series(client, auth)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.headers["Retry-After"] == "1"
        assert response.get_json()["code"] == "unavailable"
    assert len(connected) == 2  # the first connection was dropped, not served again


def test_an_entry_written_to_a_read_only_server_is_503(read_only_app, app, client, key):
    auth = {"Authorization": f"Bearer {key}"}
    assert put_series(client, auth).status_code == 200  # on the writable primary
    response = read_only_app.test_client().put(
        f"{API}/series/{SALES}/entries/{uuid.uuid4()}", headers=auth)
    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "1"
