"""Fixtures of the registration's tests: an account on the local AT, and one on a
scripted Tax Authority."""
import pytest

from invx.tax_authority import ADAPTERS

from ..support.fake_at import point_at
from ..support.scripted_at import ScriptedTaxAuthority
from ..support.settings import TEST_SECRET


@pytest.fixture
def at_key(app, make_account, fake_at, settings):
    """acme (NIF 123456789) on the at adapter, pointed at the local AT server."""
    settings(secret_key=TEST_SECRET, at_read_timeout=2.0)
    key = make_account(tax_authority="none")
    point_at(app, fake_at)
    return key


@pytest.fixture
def scripted(monkeypatch, make_account):
    monkeypatch.setitem(ADAPTERS, "scripted", ScriptedTaxAuthority)
    monkeypatch.setattr(ScriptedTaxAuthority, "failures", {})
    monkeypatch.setattr(ScriptedTaxAuthority, "annul_failures", set())
    monkeypatch.setattr(ScriptedTaxAuthority, "lost_answers", set())
    monkeypatch.setattr(ScriptedTaxAuthority, "query_failures", set())
    monkeypatch.setattr(ScriptedTaxAuthority, "gate", None)
    monkeypatch.setattr(ScriptedTaxAuthority, "on_register", None)
    monkeypatch.setattr(ScriptedTaxAuthority, "calls", [])
    return make_account(tax_authority="scripted")
