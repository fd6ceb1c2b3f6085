"""The audit log of AT calls: a record committed before each call and completed after it,
so a worker that dies during a call leaves a trace of it, and no call goes unrecorded."""
import pytest
from sqlalchemy import create_engine, select, text

from invx.config import settings_of
from invx.extensions import db
from invx.models import Account, AtCall
from invx.tax_authority import ADAPTERS, adapter_for
from invx.tax_authority.base import UnavailableError

from ..support.sandbox import registration
from ..support.scripted_at import Crash, ScriptedTaxAuthority


@pytest.fixture
def scripted_adapter(app, monkeypatch, make_account):
    """acme's audited adapter, on the scripted Tax Authority."""
    monkeypatch.setitem(ADAPTERS, "scripted", ScriptedTaxAuthority)
    monkeypatch.setattr(ScriptedTaxAuthority, "calls", [])
    monkeypatch.setattr(ScriptedTaxAuthority, "on_register", None)
    make_account(tax_authority="scripted")
    with app.app_context():
        account = db.session.scalar(select(Account))
        adapter = adapter_for(account, settings_of(app))
        db.session.commit()
        yield adapter


def committed_calls(app):
    """(operation, outcome, validation code) of the audit records, as another connection
    sees them: only what is committed."""
    with db.engine.connect() as connection:
        return connection.execute(text(
            "SELECT operation, outcome, validation_code FROM at_calls ORDER BY id")).all()


def test_the_record_is_committed_before_the_call_and_completed_after(app, scripted_adapter):
    seen_during_the_call = []
    ScriptedTaxAuthority.on_register = (
        lambda registration: seen_during_the_call.extend(committed_calls(app)))
    info = scripted_adapter.register_series(registration(serie="2026"))
    assert seen_during_the_call == [("registarSerie", "pending", None)]
    assert committed_calls(app) == [("registarSerie", "ok", info.validation_code)]


def test_a_call_stopped_before_its_answer_is_recorded_as_interrupted(app, scripted_adapter):
    def die(registration):
        raise Crash()

    ScriptedTaxAuthority.on_register = die
    with pytest.raises(Crash):
        scripted_adapter.register_series(registration(serie="2026"))
    assert committed_calls(app) == [("registarSerie", "interrupted", None)]


def test_a_call_that_cannot_be_recorded_is_not_made(app, scripted_adapter, tmp_path):
    scripted_adapter.engine = create_engine(f"sqlite:///{tmp_path}/no-such-dir/x.sqlite3")
    with pytest.raises(UnavailableError) as caught:
        scripted_adapter.register_series(registration(serie="2026"))
    assert not caught.value.outcome_unknown  # AT never saw it: nothing to ask AT about
    assert ScriptedTaxAuthority.calls == []
    assert db.session.scalars(select(AtCall)).all() == []


def test_a_lookup_records_the_code_it_found(app, scripted_adapter):
    info = scripted_adapter.register_series(registration(serie="2026"))
    (found,) = scripted_adapter.query_series("2026", "SI", "FT")
    assert found.validation_code == info.validation_code
    assert committed_calls(app)[-1] == ("consultarSeries", "ok", info.validation_code)
