"""The sandbox Tax Authority, built for tests, and what they send it."""
from dataclasses import replace
from types import SimpleNamespace

from invx.config import Settings
from invx.portugal.lisbon import today_in_portugal
from invx.tax_authority.base import SeriesRegistration
from invx.tax_authority.sandbox import SandboxTaxAuthority

NIF = "123456789"
OTHER_NIF = "555555550"


def adapter(nif=NIF, **settings):
    return SandboxTaxAuthority(SimpleNamespace(fiscal_id=nif), Settings(**settings))


def registration(serie="2023", doc_class="SI", doc_type="FT", **changes):
    reg = SeriesRegistration(serie=serie, series_type="N", doc_class=doc_class,
                             doc_type=doc_type, first_number=1,
                             start_date=today_in_portugal())
    return replace(reg, **changes)


def assert_refused(exc_info, exc_class, code):
    assert type(exc_info.value) is exc_class
    assert exc_info.value.code == code
    assert exc_info.value.message
