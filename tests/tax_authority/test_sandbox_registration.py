"""The sandbox Tax Authority registers and finds series by AT's SeriesWS rules, on the test
database."""
from datetime import date, datetime, timedelta

import pytest

from invx.portugal import document_types
from invx.portugal.atcud import VALIDATION_CODE_ALPHABET
from invx.portugal.lisbon import today_in_portugal
from invx.tax_authority.base import (
    AlreadyRegisteredError,
    InvalidRequestError,
    SeriesInfo,
    TaxAuthorityError,
)
from invx.tax_authority.sandbox import is_sandbox_code

from ..support.sandbox import NIF, OTHER_NIF, adapter, assert_refused, registration

pytestmark = pytest.mark.usefixtures("ctx")


# --- register -------------------------------------------------------------------------

def test_register_returns_active_series_info():
    info = adapter().register_series(registration("A-2023"))
    assert isinstance(info, SeriesInfo)
    assert info.state == "A"
    assert (info.serie, info.doc_class, info.doc_type) == ("A-2023", "SI", "FT")
    assert info.series_type == "N"
    assert info.first_number == 1
    assert info.start_date == today_in_portugal()
    assert info.registered_on == today_in_portugal()
    assert isinstance(info.state_at, datetime)
    assert info.communicated_by == NIF
    assert info.software_certificate == 0
    assert info.processing == "PI"
    assert info.last_number is None


def test_register_returns_a_well_formed_sandbox_code():
    code = adapter().register_series(registration()).validation_code
    assert isinstance(code, str)
    assert len(code) >= 8
    assert code.startswith("SBX")
    assert set(code) <= set(VALIDATION_CODE_ALPHABET)
    assert not set(code) & set("AEIOU01")


def test_register_keeps_the_case_sent():
    info = adapter().register_series(registration("AbC"))
    assert info.serie == "AbC"


def test_register_accepts_every_optional_field_value():
    sandbox = adapter()
    info = sandbox.register_series(registration(
        "opt", series_type="F", first_number=100, software_certificate=9999, processing="OM",
        start_date=today_in_portugal() + timedelta(days=30)))
    assert (info.series_type, info.first_number, info.software_certificate,
            info.processing) == ("F", 100, 9999, "OM")
    assert info.start_date == today_in_portugal() + timedelta(days=30)
    assert sandbox.register_series(registration("rec", series_type="R", processing="PF")).state \
        == "A"


def test_codes_of_eleven_registrations_are_distinct():
    sandbox = adapter()
    codes = [sandbox.register_series(registration("2023", t.at_class, t.at_type)).validation_code
             for t in document_types.ATCUD_RELEVANT]
    assert len(codes) == 11
    assert len(set(codes)) == 11
    assert all(is_sandbox_code(code) for code in codes)


def test_register_same_series_and_type_again_is_4001():
    sandbox = adapter()
    sandbox.register_series(registration("AB"))
    with pytest.raises(AlreadyRegisteredError) as exc_info:
        sandbox.register_series(registration("AB"))
    assert_refused(exc_info, AlreadyRegisteredError, 4001)


@pytest.mark.parametrize("again", ["ab", "Ab", "aB"])
def test_register_same_series_other_case_is_4001(again):
    sandbox = adapter()
    sandbox.register_series(registration("AB"))
    with pytest.raises(AlreadyRegisteredError) as exc_info:
        sandbox.register_series(registration(again))
    assert_refused(exc_info, AlreadyRegisteredError, 4001)


def test_register_again_after_annulment_is_4001():
    sandbox = adapter()
    info = sandbox.register_series(registration("AB"))
    sandbox.annul_series("AB", "SI", "FT", info.validation_code)
    with pytest.raises(AlreadyRegisteredError) as exc_info:
        sandbox.register_series(registration("AB"))
    assert_refused(exc_info, AlreadyRegisteredError, 4001)
    with pytest.raises(AlreadyRegisteredError):
        sandbox.register_series(registration("ab"))


def test_register_again_after_finish_is_4001():
    sandbox = adapter()
    info = sandbox.register_series(registration("AB"))
    sandbox.finish_series("AB", "SI", "FT", info.validation_code, 5)
    with pytest.raises(AlreadyRegisteredError) as exc_info:
        sandbox.register_series(registration("AB"))
    assert_refused(exc_info, AlreadyRegisteredError, 4001)


def test_refused_repeat_leaves_the_first_registration_alone():
    sandbox = adapter()
    first = sandbox.register_series(registration("AB"))
    with pytest.raises(AlreadyRegisteredError):
        sandbox.register_series(registration("ab"))
    [held] = sandbox.query_series("AB")
    assert held == first


def test_same_series_for_another_doc_type_is_fine():
    sandbox = adapter()
    ft = sandbox.register_series(registration("2023", "SI", "FT"))
    fr = sandbox.register_series(registration("2023", "SI", "FR"))
    gr = sandbox.register_series(registration("2023", "MG", "GR"))
    assert {ft.state, fr.state, gr.state} == {"A"}
    assert len({ft.validation_code, fr.validation_code, gr.validation_code}) == 3


def test_same_series_and_type_for_another_nif_is_fine():
    mine = adapter(NIF).register_series(registration("2023"))
    theirs = adapter(OTHER_NIF).register_series(registration("2023"))
    assert mine.communicated_by == NIF
    assert theirs.communicated_by == OTHER_NIF
    assert theirs.state == "A"
    assert theirs.validation_code != mine.validation_code


def test_two_adapters_for_the_same_nif_share_state():
    first, second = adapter(NIF), adapter(NIF)
    info = first.register_series(registration("shared"))
    assert second.query_series("shared") == [info]
    with pytest.raises(AlreadyRegisteredError) as exc_info:
        second.register_series(registration("SHARED"))
    assert_refused(exc_info, AlreadyRegisteredError, 4001)


# --- register: refused requests -------------------------------------------------------

def test_register_invalid_class_is_4045():
    with pytest.raises(InvalidRequestError) as exc_info:
        adapter().register_series(registration(doc_class="XX", doc_type="FT"))
    assert_refused(exc_info, InvalidRequestError, 4045)


def test_register_type_not_in_class_is_4046():
    with pytest.raises(InvalidRequestError) as exc_info:
        adapter().register_series(registration(doc_class="SI", doc_type="GR"))
    assert_refused(exc_info, InvalidRequestError, 4046)


def test_register_start_date_yesterday_is_4049():
    yesterday = today_in_portugal() - timedelta(days=1)
    with pytest.raises(InvalidRequestError) as exc_info:
        adapter().register_series(registration(start_date=yesterday))
    assert_refused(exc_info, InvalidRequestError, 4049)


def test_register_start_date_long_ago_is_4049():
    with pytest.raises(InvalidRequestError) as exc_info:
        adapter().register_series(registration(start_date=date(2020, 1, 1)))
    assert_refused(exc_info, InvalidRequestError, 4049)


@pytest.mark.parametrize("fields", [
    {"serie": "a b"}, {"series_type": "X"}, {"first_number": 0},
    {"software_certificate": 10000}, {"processing": "XX"},
], ids=["serie", "series-type", "first-number-0", "certificate-10000", "processing"])
def test_register_with_fields_in_error_is_4003(fields):
    with pytest.raises(InvalidRequestError) as exc_info:
        adapter().register_series(registration(**fields))
    assert_refused(exc_info, InvalidRequestError, 4003)


def test_refused_registration_stores_nothing():
    sandbox = adapter()
    for bad in (registration("a b"), registration(doc_class="XX"),
                registration(doc_type="GR"), registration(first_number=0),
                registration(start_date=today_in_portugal() - timedelta(days=1))):
        with pytest.raises(TaxAuthorityError):
            sandbox.register_series(bad)
    assert sandbox.query_series() == []


# --- query ----------------------------------------------------------------------------

def test_query_by_serie_ignores_case():
    sandbox = adapter()
    ft = sandbox.register_series(registration("AbC", "SI", "FT"))
    fr = sandbox.register_series(registration("AbC", "SI", "FR"))
    sandbox.register_series(registration("other", "SI", "FT"))
    for asked in ("AbC", "abc", "ABC"):
        found = sandbox.query_series(asked)
        assert found == [ft, fr]
        assert all(isinstance(info, SeriesInfo) for info in found)


def test_query_by_class_and_type():
    sandbox = adapter()
    a = sandbox.register_series(registration("A", "SI", "FT"))
    sandbox.register_series(registration("A", "SI", "FR"))
    b = sandbox.register_series(registration("B", "SI", "FT"))
    g = sandbox.register_series(registration("B", "MG", "GR"))
    assert sandbox.query_series(doc_class="SI", doc_type="FT") == [a, b]
    assert sandbox.query_series(doc_class="MG") == [g]
    assert sandbox.query_series(serie="b", doc_class="SI", doc_type="FT") == [b]
    assert len(sandbox.query_series()) == 4


def test_query_unknown_is_an_empty_list():
    sandbox = adapter()
    assert sandbox.query_series("nothing") == []
    sandbox.register_series(registration("2023"))
    assert sandbox.query_series("nothing") == []
    assert sandbox.query_series("2023", "SI", "FR") == []
    assert sandbox.query_series(doc_class="WD") == []


def test_query_does_not_see_other_nifs_series():
    adapter(OTHER_NIF).register_series(registration("2023"))
    mine = adapter(NIF)
    assert mine.query_series("2023") == []
    assert mine.query_series() == []
    assert len(adapter(OTHER_NIF).query_series("2023")) == 1


def test_query_reflects_state_changes():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    annulled = sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    assert sandbox.query_series("2023") == [annulled]
    assert sandbox.query_series("2023")[0].state == "N"
