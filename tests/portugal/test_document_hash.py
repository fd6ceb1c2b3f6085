"""The document Hash, its printed excerpt and the QR code's text, against known answers:
``openssl dgst -sha1 -sign`` (run here) with a fixed key, and excerpts and QR strings
worked out by hand from the spec (../shared/spec/portugal-document-signature.md)."""
import base64
import shutil
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from invx.portugal import document_hash as dh
from invx.portugal.qr_code import qr_text

KEY_FILE = Path(__file__).parent.parent / "support" / "keys" / "document-key.pem"
KEY = serialization.load_pem_private_key(KEY_FILE.read_bytes(), password=None)
FIRST_MESSAGE = "2026-01-02;2026-01-02T09:15:00;FT 2026/1;12.30;"
# openssl dgst -sha1 -sign tests/support/keys/document-key.pem, over FIRST_MESSAGE, base64
FIRST_HASH = ("nE/gvrU9QlHVo3B192CnPFoQX/mk6IWZeCI8WI+r5g4IWRZpuyEMdU6OBxmnSvIhBqCmx6ODMnPxJGR9"
              "t11atUJ4lnX3FkQqYgkCIllN0CRmxlhj4eOyMBFEFdwW7SI7B4OCRNVDN9uEORR4XxpC/jvpEIxd8zP"
              "gXaRC5fUmCrI=")


def _openssl_hash(text, tmp_path):
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command")
    message = tmp_path / "message"
    message.write_text(text, encoding="utf-8")
    signed = subprocess.run(["openssl", "dgst", "-sha1", "-sign", str(KEY_FILE), str(message)],
                            check=True, capture_output=True).stdout
    return base64.b64encode(signed).decode("ascii")


def test_the_first_document_signs_over_an_empty_previous_hash(tmp_path):
    text = dh.message(date(2026, 1, 2), datetime(2026, 1, 2, 9, 15), "FT 2026/1",
                      Decimal("12.3"), None)
    assert text == FIRST_MESSAGE  # the trailing ; stays
    assert dh.sign(KEY, text) == _openssl_hash(text, tmp_path) == FIRST_HASH
    assert len(FIRST_HASH) == 172  # a 1024-bit key


def test_the_second_document_signs_over_the_first_ones_hash(tmp_path):
    text = dh.message(date(2026, 1, 3), datetime(2026, 1, 3, 10, 0, 5, 999999),
                      dh.invoice_no("FT", "2026", 2), Decimal("1234.5"), FIRST_HASH)
    assert text == "2026-01-03;2026-01-03T10:00:05;FT 2026/2;1234.50;" + FIRST_HASH
    second = dh.sign(KEY, text)
    assert second == _openssl_hash(text, tmp_path)
    assert dh.verifies(KEY.public_key(), text, second)
    assert not dh.verifies(KEY.public_key(), text.replace("1234.50", "1234.51"), second)
    assert not dh.verifies(KEY.public_key(), text, "not base64!")


def test_the_excerpt_is_positions_1_11_21_31_and_the_certification_line():
    # FIRST_HASH: n(1) ... H(11) ... P(21) ... W(31), counted by hand
    assert dh.excerpt(FIRST_HASH) == "nHPW"
    assert dh.certification(FIRST_HASH, 1234) == (
        "nHPW-Processado por programa certificado n.º 1234/AT")


@pytest.mark.parametrize(("value", "written"), [
    (Decimal("0"), "0.00"), (Decimal("12.3"), "12.30"), (Decimal("1234.5"), "1234.50"),
    (Decimal("1E+3"), "1000.00"), (Decimal("0.125"), "0.12")])
def test_amounts_have_two_decimals_and_a_point(value, written):
    assert dh.amount(value) == written


def test_only_rsa_keys_of_1024_bits_or_more_sign():
    assert dh.check_private_key(KEY) is None
    small = serialization.load_pem_private_key((KEY_FILE.parent / "small-key.pem").read_bytes(),
                                               password=None)
    assert "512 bits" in dh.check_private_key(small)
    assert "RSA" in dh.check_private_key(ec.generate_private_key(ec.SECP256R1()))


DOCUMENT = {"issuer_nif": "509445535", "document_type": "FT", "invoice_date": date(2022, 1, 3),
            "invoice_no": "FT 01P2022/1", "atcud": "0", "gross_total": Decimal("400"),
            "hash_excerpt": "P0FE", "certificate_number": 2230}


def test_the_qr_text_of_the_specs_example():
    fields = {"customer_nif": "123456823", "customer_country": "BE", "status": "N",
              "tax_regions": [{"region": "PT", "normal_base": Decimal("325.2"),
                               "normal_vat": Decimal("74.8")}],
              "taxes_total": Decimal("74.80"), "withholding": Decimal("0")}
    assert qr_text(DOCUMENT, fields) == (
        "A:509445535*B:123456823*C:BE*D:FT*E:N*F:20220103*G:FT 01P2022/1*H:0*I1:PT*"
        "I7:325.20*I8:74.80*N:74.80*O:400.00*P:0.00*Q:P0FE*R:2230")


def test_the_qr_text_of_a_final_consumer_without_vat_lines_and_with_every_other_field():
    fields = {"taxes_total": Decimal("0"), "not_subject": Decimal("10"),
              "stamp_duty": Decimal("0.4"), "other_information": "Obrigado"}
    document = {**DOCUMENT, "atcud": "CSDF7T5H-15", "gross_total": Decimal("10.4")}
    assert qr_text(document, fields) == (
        "A:509445535*B:999999990*C:Desconhecido*D:FT*E:N*F:20220103*G:FT 01P2022/1*"
        "H:CSDF7T5H-15*I1:0*L:10.00*M:0.40*N:0.00*O:10.40*Q:P0FE*R:2230*S:Obrigado")


def test_the_qr_text_of_three_tax_regions():
    regions = [{"region": "PT", "exempt_base": Decimal("1"), "reduced_base": Decimal("2"),
                "reduced_vat": Decimal("0.12")},
               {"region": "PT-AC", "intermediate_base": Decimal("3"),
                "intermediate_vat": Decimal("0.27")},
               {"region": "PT-MA", "normal_base": Decimal("4"), "normal_vat": Decimal("0.88")}]
    text = qr_text({**DOCUMENT, "gross_total": Decimal("11.27")},
                   {"tax_regions": regions, "taxes_total": Decimal("1.27")})
    assert "*I1:PT*I2:1.00*I3:2.00*I4:0.12*J1:PT-AC*J5:3.00*J6:0.27*K1:PT-MA*K7:4.00*" \
           "K8:0.88*N:1.27*O:11.27*Q:" in text
