"""No call reaches a Tax Authority while its thread holds a database transaction open: in
the request's thread, in the registration's thread pool, whatever the app context; and
INVX_AT_TRANSACTION_GUARD, not TESTING, says what a breach does."""
import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, select, text

from invx import create_app
from invx.config import Settings, settings_of
from invx.extensions import db
from invx.models import Account, AtCall
from invx.registration import workflow
from invx.registration.concurrency import concurrently
from invx.tax_authority import adapter_for, transaction_guard
from invx.tax_authority.sandbox import SandboxSeries
from invx.tax_authority.transaction_guard import TransactionOpen

from ..support.settings import suite_settings


def _adapter(app):
    """acme's sandbox adapter, audited and guarded as every adapter is."""
    account = db.session.scalar(select(Account))
    db.session.commit()
    return adapter_for(account, settings_of(app))


def test_calling_at_inside_a_database_transaction_is_caught(app, key):
    with app.app_context():
        account = db.session.scalar(select(Account))  # this read opens a transaction
        adapter = adapter_for(account, settings_of(app))
        with pytest.raises(TransactionOpen, match="transaction is open"):
            adapter.query_series("2026")
        db.session.commit()
        assert adapter.query_series("2026") == []


def test_a_call_refused_by_the_guard_never_reaches_the_tax_authority(app, key):
    with app.app_context():
        adapter = _adapter(app)
        db.session.execute(text("SELECT 1"))
        with pytest.raises(TransactionOpen):
            adapter.query_series("2026")
        db.session.rollback()
        assert db.session.scalars(select(AtCall)).all() == []  # not made, so not audited


def test_a_call_from_a_thread_without_an_app_context_is_checked_too(app, key):
    with app.app_context():
        adapter, engine = _adapter(app), db.engine

    def query_inside_a_transaction(_):
        with engine.begin() as connection:  # no app context in this thread
            connection.execute(text("SELECT 1"))
            return adapter.query_series("2026")

    outcomes = dict(concurrently(query_inside_a_transaction, ["one"], workers=1))
    assert isinstance(outcomes["one"], TransactionOpen)


def test_the_registrations_thread_pool_is_checked(app, client, key, monkeypatch):
    """A registration whose pool thread opened a transaction before calling AT fails (the
    guard of old returned early in such a thread, without an app context)."""
    with app.app_context():
        engine = db.engine
    register_one = workflow._register_one

    def inside_a_transaction(adapter, job):
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            return register_one(adapter, job)

    monkeypatch.setattr(workflow, "_register_one", inside_a_transaction)
    response = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2026"}})
    assert response.status_code == 422
    assert response.get_json() == {"code": "000", "message": "Unknown error."}
    with app.app_context():
        operations = db.session.scalars(select(AtCall.operation)).all()
        assert "registarSerie" not in operations  # none was sent: only asked, to undo
        assert db.session.scalars(select(SandboxSeries)).all() == []


# The tests below check the guard itself: on SQLite an open transaction holds the write
# lock, so a real call beside it would wait for the lock instead (what the guard prevents).

def test_a_transaction_in_another_thread_does_not_count(app):
    with app.app_context():
        engine = db.engine
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))  # open here, in this thread
        assert transaction_guard.open_here() == 1
        with ThreadPoolExecutor(1) as pool:
            assert pool.submit(transaction_guard.open_here).result() == 0
            pool.submit(transaction_guard.check, "consultarSeries", "raise").result()
        connection.rollback()
    assert transaction_guard.open_here() == 0


def test_ended_transactions_are_forgotten(app):
    """The guard keeps the connections held now, not one entry per thread that ever took
    one (under gevent, every request is a greenlet of its own)."""
    with app.app_context():
        engine = db.engine
    before = len(transaction_guard._held)

    def one_transaction(_):
        with engine.begin() as connection:
            connection.execute(text("SELECT 1"))
            assert transaction_guard.open_here() == 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one_transaction, range(40)))
    assert len(transaction_guard._held) == before


def test_in_log_mode_the_breach_is_logged_and_the_call_goes_on(app, caplog):
    with app.app_context():
        db.session.execute(text("SELECT 1"))
        with caplog.at_level(logging.ERROR, logger="invx"):
            transaction_guard.check("consultarSeries", "log")  # no exception
        db.session.rollback()
    assert "a database transaction is open while calling AT (consultarSeries)" in caplog.text


def test_the_adapters_use_the_mode_of_the_settings(app, key, settings):
    settings(at_transaction_guard="log")
    with app.app_context():
        assert _adapter(app).guard == "log"
    settings(at_transaction_guard="raise")
    with app.app_context():
        assert _adapter(app).guard == "raise"


def test_log_is_the_default_and_testing_does_not_change_it():
    assert Settings().at_transaction_guard == "log"
    assert Settings.from_environment({}).at_transaction_guard == "log"


def test_off_does_not_even_watch_the_engine(tmp_path, caplog):
    app = create_app(suite_settings(f"sqlite:///{tmp_path}/off.sqlite3",
                                    at_transaction_guard="off"), TESTING=True)
    with app.app_context():
        assert not event.contains(db.engine, "checkout", transaction_guard._on_checkout)
        db.session.execute(text("SELECT 1"))
        with caplog.at_level(logging.ERROR):
            transaction_guard.check("consultarSeries", "off")
        db.session.rollback()
        db.engine.dispose()
    assert "transaction is open" not in caplog.text


def test_the_suites_app_is_watched(app):
    with app.app_context():
        assert event.contains(db.engine, "checkout", transaction_guard._on_checkout)
