"""Numbers a client writes (series references, ``limit``, ``cursor``) are read as ASCII
digits only: ``²``, ``①`` or ``¹²`` are digits to ``str.isdigit`` but not to ``int``, and
``int`` reads Arabic-Indic digits. Such input is 404 or 422, never a 500."""
import base64
import uuid

import pytest

from ..support.sequence_service import API, SALES, put_entry, put_series

# Superscripts and a circled digit (isdigit() but not int()), Arabic-Indic and fullwidth
# 12 (int() reads them as 12).
NOT_ASCII_NUMBERS = ["²", "①", "¹²", "\u0661\u0662", "\uff11\uff12"]


@pytest.mark.parametrize("ref", NOT_ASCII_NUMBERS)
@pytest.mark.parametrize("suffix", ["", "/verify", "/entries",
                                    "/entries/00000000-0000-4000-8000-000000000000"])
def test_a_series_reference_of_unicode_digits_is_404(client, auth, ref, suffix):
    response = client.get(f"{API}/series/{ref}{suffix}", headers=auth)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("ref", NOT_ASCII_NUMBERS)
def test_an_entry_put_on_a_unicode_digit_reference_is_404(client, auth, ref):
    response = put_entry(client, auth, series=ref)
    assert response.status_code == 404 and response.get_json()["code"] == "not_found"


@pytest.mark.parametrize("ref", NOT_ASCII_NUMBERS)
def test_an_entry_put_with_a_made_up_key_on_unicode_digits_is_401(client, ref):
    made_up = {"Authorization": "Bearer made-up-key-0123456789"}
    for response in (put_entry(client, made_up, series=ref),
                     client.get(f"{API}/series/{ref}", headers=made_up)):
        assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"


def test_the_arabic_indic_digits_of_a_sub_series_id_name_no_series(client, auth, sequence):
    number_id = str(sequence["current_invoice_sequence_id"])
    arabic = number_id.translate({ord("0") + n: 0x660 + n for n in range(10)})
    assert client.get(f"{API}/series/{number_id}", headers=auth).status_code == 200
    assert client.get(f"{API}/series/{arabic}", headers=auth).status_code == 404


@pytest.mark.parametrize("limit", [*NOT_ASCII_NUMBERS, "", " 5", "5 ", "+5", "5.0", "9" * 5000])
def test_a_limit_that_is_not_ascii_digits_is_422(client, auth, limit):
    put_series(client, auth)
    response = client.get(f"{API}/series/{SALES}/entries", headers=auth,
                          query_string={"limit": limit})
    assert response.status_code == 422 and "limit" in response.get_json()["fields"]


def _cursor(text):
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize("number", [str(2**63), str(2**64 + 1), "9" * 30, "²", "\u0661\u0662", ""])
def test_a_cursor_with_a_huge_or_unicode_number_is_422(client, auth, number):
    put_series(client, auth)
    response = client.get(f"{API}/series/{SALES}/entries", headers=auth,
                          query_string={"cursor": _cursor(f"before:{number}")})
    assert response.status_code == 422 and "cursor" in response.get_json()["fields"]


def test_a_cursor_the_api_gave_still_pages(client, auth):
    put_series(client, auth)
    for _ in range(3):
        put_entry(client, auth)
    first = client.get(f"{API}/series/{SALES}/entries?limit=2", headers=auth).get_json()
    second = client.get(f"{API}/series/{SALES}/entries?limit=2&cursor={first['cursor']}",
                        headers=auth).get_json()
    assert [e["code"] for e in second["list"]] == ["INV-00001-F1"]
    assert uuid.UUID(second["list"][0]["id"])
