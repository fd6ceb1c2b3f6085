"""A request whose database went away while it ran still gets invx's JSON answer (issue
18): the session's closing rollback fails on the dead connection, and before, that failure
escaped the app and gunicorn answered its HTML 500."""
import json

import pytest
from flask import jsonify
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from werkzeug.test import EnvironBuilder

from invx import create_app
from invx.extensions import db
from tests.support.postgres import requires_postgres
from tests.support.settings import suite_settings


def _app(database_url, route):
    app = create_app(suite_settings(database_url, db_pool_size=1), TESTING=True)
    app.add_url_rule("/sequence/v1/_test/dies", "dies", route)
    app.add_url_rule("/_test/dies", "ix_dies", route)
    return app


def _terminate_own_connection():
    """Kill the session's connection from outside, as a database restart does, and leave
    the driver's connection closed, as psycopg2 leaves it once it has seen the server go
    (its next use raises "connection already closed")."""
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = create_engine(db.engine.url)
    with killer.begin() as connection:
        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    killer.dispose()
    db.session.connection().connection.dbapi_connection.close()


@requires_postgres
@pytest.mark.parametrize("path, code", [("/sequence/v1/_test/dies", "unavailable"),
                                        ("/_test/dies", "000")])
def test_a_query_on_a_dead_connection_is_503_json_and_the_next_request_works(
        database_url, path, code):
    def dies():
        _terminate_own_connection()
        db.session.execute(text("SELECT 1"))  # the connection is gone: OperationalError
        return jsonify(unreachable=True)

    app = _app(database_url, dies)
    client = app.test_client()
    response = client.get(path)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["code"] == code
    with app.app_context():  # the dead connection was discarded, not pooled again
        assert db.session.execute(text("SELECT 1")).scalar() == 1
        db.engine.dispose()


@requires_postgres
def test_an_answer_made_before_the_connection_died_is_kept(database_url):
    def answers_then_dies():
        db.session.execute(text("SELECT 1"))  # a transaction is open: teardown rolls back
        _terminate_own_connection()
        return jsonify(answered=True)

    app = _app(database_url, answers_then_dies)
    response = app.test_client().get("/sequence/v1/_test/dies")
    assert response.status_code == 200
    assert response.get_json() == {"answered": True}
    with app.app_context():
        db.engine.dispose()


def test_an_error_escaping_the_app_is_answered_in_json(app, tmp_path):
    """Whatever escapes Flask (here a teardown of its own that fails) is still JSON."""
    def failing_teardown(_error):
        raise OperationalError("ROLLBACK", {}, Exception("server closed the connection"))

    other = _app(f"sqlite:///{tmp_path}/x.sqlite3", lambda: jsonify(answered=True))
    other.teardown_appcontext(failing_teardown)
    status, headers, body = _serve(other, "/sequence/v1/_test/dies")
    assert status.startswith("503 ")
    assert headers["Retry-After"] == "1"
    assert json.loads(body) == {"code": "unavailable", "message":
                                "The database is unreachable or busy. Retry in a moment."}
    assert json.loads(_serve(other, "/_test/dies")[2])["code"] == "000"


def _serve(app, path):
    """Call the app as a WSGI server does (the test client re-raises on ``exc_info``)."""
    answered = []

    def start_response(status, headers, exc_info=None):
        answered[:] = [status, dict(headers)]

    body = b"".join(app(EnvironBuilder(path=path).get_environ(), start_response))
    return answered[0], answered[1], body



def test_an_outage_logs_one_line_per_request_and_one_traceback(tmp_path, caplog):
    """A 4 s outage used to write 11.4 MB: a traceback for every 503 (issue 18)."""
    from invx import errors

    def down():
        raise OperationalError("SELECT 1", {}, Exception("could not connect to server"))

    app = _app(f"sqlite:///{tmp_path}/x.sqlite3", down)
    errors.tracebacks.reset()  # an earlier test's outage
    client = app.test_client()
    with caplog.at_level("ERROR", logger="invx.errors"):
        for _ in range(20):
            assert client.get("/sequence/v1/_test/dies").status_code == 503
    lines = [r for r in caplog.records if r.name == "invx.errors"]
    assert len(lines) == 20
    assert sum(1 for r in lines if r.exc_info) == 1
    assert all("could not connect to server" in r.getMessage() for r in lines)
