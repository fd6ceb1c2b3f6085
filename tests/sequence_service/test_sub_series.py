"""InvoiceXpress sub-series are series: integer ids, document numbers, ATCUD, AT states."""
import uuid

from sqlalchemy import update

from invx.models import Series

from ..support.sequence_service import API, put_entry, put_series, tamper


def test_a_sub_series_is_addressable_by_its_integer_id_and_its_uuid(client, auth, sequence):
    by_int = client.get(f"{API}/series/{sequence['current_invoice_sequence_id']}",
                        headers=auth).get_json()
    assert by_int["sequence_id"] == sequence["current_invoice_sequence_id"]
    assert (by_int["code"], by_int["prefix"], by_int["document_type"]) == (
        "FT 2023", "FT 2023/", "invoice")
    assert by_int["validation_code"] == sequence["current_invoice_validation_code"]
    by_uuid = client.get(f"{API}/series/{by_int['id']}", headers=auth).get_json()
    assert by_uuid == by_int
    listed = client.get(f"{API}/series", headers=auth).get_json()["list"]
    assert len(listed) == 15


def test_an_integer_id_is_of_ascii_digits_else_it_names_no_series(client, auth, sequence):
    """"²" is a digit to str.isdigit() (and int() refuses it: it was a 500); full-width
    digits are digits to int() too (they named the sub-series)."""
    wide = str(sequence["current_invoice_sequence_id"]).translate(
        {ord(d): 0xFF10 + int(d) for d in "0123456789"})
    for ref in ("\u00b2", wide):
        for path in (f"series/{ref}", f"series/{ref}/verify", f"series/{ref}/entries",
                     f"series/{ref}/entries/{uuid.uuid4()}"):
            response = client.get(f"{API}/{path}", headers=auth)
            assert response.status_code == 404, path
            assert response.get_json()["code"] == "not_found"
        assert put_entry(client, auth, series=ref).status_code == 404


def test_sub_series_entries_are_portuguese_document_numbers_with_atcud(client, auth, key,
                                                                       sequence):
    invoices = sequence["current_invoice_sequence_id"]
    first = put_entry(client, auth, series=invoices).get_json()
    second = put_entry(client, auth, series=invoices).get_json()
    code = sequence["current_invoice_validation_code"]
    assert (first["code"], first["number"], first["atcud"]) == ("FT 2023/1", 1, f"{code}-1")
    assert (second["code"], second["atcud"]) == ("FT 2023/2", f"{code}-2")
    receipt = put_entry(client, auth, series=sequence["current_receipt_sequence_id"]).get_json()
    assert receipt["code"] == "RG 2023/1"
    body = client.get(f"/sequences/{sequence['id']}.json?api_key={key}").get_json()["sequence"]
    assert body["current_invoice_number"] == 2
    assert body["current_receipt_number"] == 1
    assert body["current_quote_number"] == 0


def test_not_applicable_types_number_freely_without_atcud(client, auth, sequence):
    entry = put_entry(client, auth, series=sequence["current_fees_note_sequence_id"]).get_json()
    assert (entry["code"], entry["atcud"]) == ("2023/1", None)


def test_a_type_without_a_validation_code_refuses_entries(app, client, auth, sequence):
    tamper(app, update(Series).where(Series.number_id == sequence["current_quote_sequence_id"])
           .values(at_status=Series.UNREGISTERED, validation_code=None))
    response = put_entry(client, auth, series=sequence["current_quote_sequence_id"])
    assert response.status_code == 422
    assert response.get_json()["code"] == "series_not_registered"
    assert "N/D" in response.get_json()["message"]


def test_a_finished_or_annulled_sequence_refuses_entries(app, client, auth, sequence):
    invoices = sequence["current_invoice_sequence_id"]
    assert client.put(f"{API}/series/{invoices}/entries/{uuid.uuid4()}",
                      headers=auth).status_code == 200
    result = app.test_cli_runner().invoke(args=["sequences", "annul", "acme", "2023"])
    assert result.exit_code != 0  # an invoice was issued: annulling is refused
    from invx.models import Sequence
    tamper(app, update(Sequence).values(closed_as="finished"))
    response = put_entry(client, auth, series=invoices)
    assert response.status_code == 422 and response.get_json()["code"] == "series_closed"


def test_a_sub_series_cannot_be_redefined(client, auth, sequence):
    by_int = client.get(f"{API}/series/{sequence['current_invoice_sequence_id']}",
                        headers=auth).get_json()
    assert put_series(client, auth, series_id=by_int["id"]).status_code == 409


def test_unknown_and_other_accounts_sub_series_are_404(client, make_account, sequence):
    other = {"Authorization": f"Bearer {make_account('other', fiscal_id='555555550')}"}
    for ref in (sequence["current_invoice_sequence_id"], 999999, "99999999999999999999999"):
        response = client.get(f"{API}/series/{ref}", headers=other)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found"
