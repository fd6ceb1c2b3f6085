"""The sandbox Tax Authority annuls and finishes series by AT's rules; its codes; its
latency."""
import time
from types import SimpleNamespace

import pytest

from invx.config import Settings
from invx.tax_authority.base import (
    OperationRefusedError,
    SeriesInfo,
)
from invx.tax_authority.sandbox import SandboxTaxAuthority, is_sandbox_code

from ..support.sandbox import NIF, OTHER_NIF, adapter, assert_refused, registration

pytestmark = pytest.mark.usefixtures("ctx")


# --- annul ----------------------------------------------------------------------------

def test_annul_succeeds():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    annulled = sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    assert isinstance(annulled, SeriesInfo)
    assert annulled.state == "N"
    assert annulled.state_reason == "ER"
    assert annulled.validation_code == info.validation_code
    assert (annulled.serie, annulled.doc_class, annulled.doc_type) == ("2023", "SI", "FT")


def test_annul_with_other_case_succeeds():
    sandbox = adapter()
    info = sandbox.register_series(registration("AB"))
    assert sandbox.annul_series("ab", "SI", "FT", info.validation_code).state == "N"


def test_annul_wrong_code_is_4004():
    sandbox = adapter()
    sandbox.register_series(registration("2023"))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.annul_series("2023", "SI", "FT", "SBXBCDFGHJ")
    assert_refused(exc_info, OperationRefusedError, 4004)
    assert sandbox.query_series("2023")[0].state == "A"


def test_annul_code_of_another_type_is_4004():
    sandbox = adapter()
    sandbox.register_series(registration("2023", "SI", "FT"))
    fr = sandbox.register_series(registration("2023", "SI", "FR"))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.annul_series("2023", "SI", "FT", fr.validation_code)
    assert_refused(exc_info, OperationRefusedError, 4004)


def test_annul_unknown_series_is_4004():
    with pytest.raises(OperationRefusedError) as exc_info:
        adapter().annul_series("nope", "SI", "FT", "SBXBCDFGHJ")
    assert_refused(exc_info, OperationRefusedError, 4004)


def test_annul_another_nifs_series_is_4004():
    info = adapter(OTHER_NIF).register_series(registration("2023"))
    with pytest.raises(OperationRefusedError) as exc_info:
        adapter(NIF).annul_series("2023", "SI", "FT", info.validation_code)
    assert_refused(exc_info, OperationRefusedError, 4004)
    assert adapter(OTHER_NIF).query_series("2023")[0].state == "A"


def test_annul_twice_is_4004():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    assert_refused(exc_info, OperationRefusedError, 4004)


def test_annul_other_reason_is_4051():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.annul_series("2023", "SI", "FT", info.validation_code, reason="XX")
    assert_refused(exc_info, OperationRefusedError, 4051)
    assert sandbox.query_series("2023")[0].state == "A"


def test_annul_after_finish_is_4004():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    sandbox.finish_series("2023", "SI", "FT", info.validation_code, 5)
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    assert_refused(exc_info, OperationRefusedError, 4004)
    assert sandbox.query_series("2023")[0].state == "F"


# --- finish ---------------------------------------------------------------------------

def test_finish_succeeds():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    finished = sandbox.finish_series("2023", "SI", "FT", info.validation_code, 5,
                                     justification="fim do ano")
    assert isinstance(finished, SeriesInfo)
    assert finished.state == "F"
    assert finished.last_number == 5
    assert finished.justification == "fim do ano"
    assert finished.validation_code == info.validation_code
    assert sandbox.query_series("2023") == [finished]


def test_finish_at_the_first_number_is_4047():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.finish_series("2023", "SI", "FT", info.validation_code, 1)
    assert_refused(exc_info, OperationRefusedError, 4047)
    held = sandbox.query_series("2023")[0]
    assert held.state == "A"
    assert held.last_number is None


def test_finish_below_a_higher_first_number_is_4047():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023", first_number=10))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.finish_series("2023", "SI", "FT", info.validation_code, 5)
    assert_refused(exc_info, OperationRefusedError, 4047)
    assert sandbox.finish_series("2023", "SI", "FT", info.validation_code, 11).state == "F"


def test_finish_after_annul_is_4005():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    sandbox.annul_series("2023", "SI", "FT", info.validation_code)
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.finish_series("2023", "SI", "FT", info.validation_code, 5)
    assert_refused(exc_info, OperationRefusedError, 4005)
    assert sandbox.query_series("2023")[0].state == "N"


def test_finish_wrong_code_is_4005():
    sandbox = adapter()
    sandbox.register_series(registration("2023"))
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.finish_series("2023", "SI", "FT", "SBXBCDFGHJ", 5)
    assert_refused(exc_info, OperationRefusedError, 4005)
    assert sandbox.query_series("2023")[0].state == "A"


def test_finish_unknown_series_is_4005():
    with pytest.raises(OperationRefusedError) as exc_info:
        adapter().finish_series("nope", "SI", "FT", "SBXBCDFGHJ", 5)
    assert_refused(exc_info, OperationRefusedError, 4005)


def test_finish_twice_is_4005():
    sandbox = adapter()
    info = sandbox.register_series(registration("2023"))
    sandbox.finish_series("2023", "SI", "FT", info.validation_code, 5)
    with pytest.raises(OperationRefusedError) as exc_info:
        sandbox.finish_series("2023", "SI", "FT", info.validation_code, 6)
    assert_refused(exc_info, OperationRefusedError, 4005)
    assert sandbox.query_series("2023")[0].last_number == 5


# --- codes and latency ----------------------------------------------------------------

def test_is_sandbox_code():
    code = adapter().register_series(registration()).validation_code
    assert is_sandbox_code(code) is True
    assert is_sandbox_code("AAJFF5JWJN") is False
    assert is_sandbox_code("") is False
    assert is_sandbox_code(None) is False


def test_latency_delays_each_call():
    sandbox = adapter(sandbox_latency=0.2)
    started = time.monotonic()
    sandbox.register_series(registration())
    assert time.monotonic() - started >= 0.2


def test_no_latency_by_default():
    assert adapter().latency == 0
    assert SandboxTaxAuthority(SimpleNamespace(fiscal_id=NIF), Settings()).latency == 0
