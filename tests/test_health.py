"""``/livez`` and ``/readyz`` (issue 19): health+json bodies, no key, 503 when the
database cannot serve."""
import os

import pytest

from invx import create_app
from tests.support.settings import suite_settings

HEALTH = "application/health+json"


def test_livez_answers_without_a_key_and_without_io(client):
    response = client.get("/livez")
    assert response.status_code == 200
    assert response.content_type == HEALTH
    assert response.get_json() == {"status": "pass"}


def test_readyz_passes_when_the_database_answers(app, client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.get_json()
    assert response.content_type == HEALTH
    body = response.get_json()
    assert body["status"] == "pass"
    check = body["checks"]["database:responseTime"][0]
    assert check["status"] == "pass" and check["observedUnit"] == "ms"
    assert check["observedValue"] >= 0


def test_readyz_fails_with_503_when_the_database_is_unreachable():
    app = create_app(suite_settings("postgresql://nobody:hunter2-password@127.0.0.1:1/none"))
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    body = response.get_json()
    assert body["status"] == "fail"
    check = body["checks"]["database:responseTime"][0]
    assert check["status"] == "fail" and check["output"]
    assert "hunter2" not in response.get_data(as_text=True)


def test_readyz_checks_writability_with_the_process_rights(tmp_path, monkeypatch):
    """What the process may not write fails the check (os.access is asked; as root, as CI
    runs, chmod could not take the right away)."""
    import flask_migrate
    app = create_app(suite_settings(f"sqlite:///{tmp_path}/w.sqlite3"))
    with app.app_context():
        flask_migrate.upgrade()
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    writable = response.get_json()["checks"]["database:writable"][0]
    assert writable["status"] == "fail" and "not writable" in writable["output"]


def test_readyz_fails_in_time_when_the_database_host_is_silent():
    """A host that takes the connection but never answers (down, or a firewall): libpq's
    connect_timeout (INVX_DB_CONNECT_TIMEOUT) bounds the wait."""
    import socket
    import time
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # the kernel completes the handshake; nothing ever answers
    port = silent.getsockname()[1]
    # Without the timeout the test would wait for good: the host "comes back" after 12 s.
    import threading
    release = threading.Timer(12, silent.close)
    release.start()
    try:
        app = create_app(suite_settings(f"postgresql://nobody@127.0.0.1:{port}/none",
                                        db_connect_timeout=1))
        started = time.monotonic()
        response = app.test_client().get("/readyz")
        waited = time.monotonic() - started
    finally:
        release.cancel()
        silent.close()
    assert response.status_code == 503
    assert waited < 10  # without the timeout: as long as the kernel keeps trying


def test_a_tax_authority_found_unreachable_is_a_warning_not_unready(client):
    """AT down: /readyz still 200 (numbering does not need AT), status warn, with why."""
    from invx.tax_authority import reachability
    try:
        reachability.note("at", "registarSerie", False, "AT did not answer in time")
        response = client.get("/readyz")
        assert response.status_code == 200 and "Retry-After" not in response.headers
        body = response.get_json()
        assert body["status"] == "warn"
        (check,) = body["checks"]["tax_authority:reachable"]
        assert check["componentId"] == "at" and check["status"] == "warn"
        assert check["output"] == "registarSerie: AT did not answer in time"
        reachability.note("at", "consultarSeries", True)
        body = client.get("/readyz").get_json()
        assert body["status"] == "pass"
        assert body["checks"]["tax_authority:reachable"][0]["status"] == "pass"
    finally:
        reachability.forget()


def test_the_audited_adapter_tells_what_it_found(app):
    """A timeout marks AT unreachable; a refusal (AT answered) marks it reachable."""
    from invx.tax_authority import reachability
    from invx.tax_authority.audit import AuditedTaxAuthority
    from invx.tax_authority.base import InvalidRequestError, UnavailableError

    class Failing:
        name, has_credentials, software_certificate, series_type = "at", True, None, "N"

        def __init__(self, error):
            self.error = error

        def query_series(self, *args):
            raise self.error

    from invx.accounts import create_account
    from invx.extensions import db
    with app.app_context():
        account_id = create_account("reach", "PT", "503504564")[0].id
        db.session.commit()  # the audit log writes on connections of its own
        try:
            for error, reachable in ((UnavailableError("no answer", outcome_unknown=True), False),
                                     (InvalidRequestError("refused", code=4001), True)):
                audited = AuditedTaxAuthority(Failing(error), account_id, db.engine, "off")
                with pytest.raises(type(error)):
                    audited.query_series("A")
                assert reachability.last_seen()["at"].reachable is reachable
        finally:
            reachability.forget()
