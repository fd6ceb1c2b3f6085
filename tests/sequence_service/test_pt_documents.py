"""Portuguese documents signed in the batch that numbers them: each entry of an
InvoiceXpress series of an ATCUD type, once its account has a document key, carries
``pt``; its Hash signs over the previous entry's (../shared/spec/
portugal-document-signature.md)."""
import json
import uuid
from datetime import date, datetime
from decimal import Decimal

import pytest
import segno
from cryptography.hazmat.primitives import serialization
from sqlalchemy import delete

from invx import document_keys, errors
from invx.extensions import db
from invx.models import Account, Entry, VerificationCheckpoint, utcnow
from invx.portugal import document_hash
from invx.secret_box import Keys

from ..portugal.test_document_hash import KEY, KEY_FILE
from ..support import batches
from ..support.sequence_service import API, SALES, put_entry, put_series
from ..support.settings import TEST_SECRET

PT = {"invoice_date": "2026-01-02", "gross_total": "12.30"}


@pytest.fixture
def signing(app, key, sequence):
    """acme signs with the test key (certificate 1234); returns the invoices' series id."""
    with app.app_context():
        account = Account.query.filter_by(name="acme").one()
        document_keys.set_document_key(account, KEY, "1234", Keys(TEST_SECRET), utcnow())
    return sequence["current_invoice_sequence_id"]


def put_pt(client, auth, series, entry_id=None, **pt):
    entry_id = entry_id or str(uuid.uuid4())
    return client.put(f"{API}/series/{series}/entries/{entry_id}", json={"pt": pt},
                      headers=auth)


def message_of(answer, previous_hash):
    pt = answer["pt"]
    return document_hash.message(date.fromisoformat(pt["invoice_date"]),
                                 datetime.fromisoformat(pt["system_entry_date"]),
                                 answer["code"], Decimal(pt["gross_total"]), previous_hash)


def test_each_entry_signs_over_the_previous_ones_hash(client, auth, signing, sequence):
    first = put_pt(client, auth, signing, **PT, system_entry_date="2026-01-02T09:15:00")
    assert first.status_code == 200, first.get_json()
    first = first.get_json()
    pt = first["pt"]
    assert message_of(first, None) == "2026-01-02;2026-01-02T09:15:00;FT 2023/1;12.30;"
    assert document_hash.verifies(KEY.public_key(), message_of(first, None), pt["hash"])
    assert pt["hash_control"] == 1
    assert pt["hash_excerpt"] == document_hash.excerpt(pt["hash"])
    assert pt["certification"] == f"{pt['hash_excerpt']}-Processado por programa " \
                                  f"certificado n.º 1234/AT"
    assert pt["atcud"] == f"ATCUD:{sequence['current_invoice_validation_code']}-1"
    assert "qr_code" not in pt
    second = put_pt(client, auth, signing, invoice_date="2026-01-02",
                    gross_total="1.00").get_json()
    assert document_hash.verifies(KEY.public_key(), message_of(second, pt["hash"]),
                                  second["pt"]["hash"])
    assert len(second["pt"]["system_entry_date"]) == 19  # now, Lisbon, to the second
    listed = client.get(f"{API}/series/{signing}/entries", headers=auth).get_json()["list"]
    assert [e["pt"]["hash"] for e in listed] == [second["pt"]["hash"], pt["hash"]]


def test_the_qr_code_when_its_fields_are_given(client, auth, signing, sequence):
    answer = put_pt(client, auth, signing, invoice_date="2026-01-03", gross_total="123.00",
                    customer_nif="123456823", customer_country="BE", taxes_total="23.00",
                    tax_regions=[{"region": "PT", "normal_base": "100.00",
                                  "normal_vat": "23.00"}]).get_json()
    pt = answer["pt"]
    code = sequence["current_invoice_validation_code"]
    assert pt["qr_code"] == (
        f"A:123456789*B:123456823*C:BE*D:FT*E:N*F:20260103*G:FT 2023/1*H:{code}-1*I1:PT*"
        f"I7:100.00*I8:23.00*N:23.00*O:123.00*Q:{pt['hash_excerpt']}*R:1234")


def test_every_entry_of_a_signing_series_needs_pt_and_no_number_is_used(
        client, auth, signing):
    refused = put_entry(client, auth, series=signing)
    assert refused.status_code == 422
    assert refused.get_json()["fields"] == {"pt": ["Missing data for required field."]}
    assert put_pt(client, auth, signing, **PT).get_json()["code"] == "FT 2023/1"


def test_a_document_may_not_be_dated_before_the_previous_one(client, auth, signing):
    assert put_pt(client, auth, signing, **PT).status_code == 200
    earlier = put_pt(client, auth, signing, invoice_date="2026-01-01", gross_total="1.00")
    assert earlier.status_code == 422
    assert list(earlier.get_json()["fields"]["pt"]) == ["invoice_date"]
    assert "2026-01-02" in earlier.get_json()["fields"]["pt"]["invoice_date"][0]
    assert put_pt(client, auth, signing, **PT).get_json()["code"] == "FT 2023/2"


@pytest.mark.parametrize(("pt", "field"), [
    ({"gross_total": "1.00"}, "invoice_date"),
    ({"invoice_date": "2026-02-30", "gross_total": "1.00"}, "invoice_date"),
    ({"invoice_date": "2026-01-02"}, "gross_total"),
    ({"invoice_date": "2026-01-02", "gross_total": "1.5"}, "gross_total"),
    ({"invoice_date": "2026-01-02", "gross_total": 1.5}, "gross_total"),
    ({**PT, "system_entry_date": "2026-01-02 09:15"}, "system_entry_date"),
    ({**PT, "customer_country": "XX", "taxes_total": "0.00"}, "customer_country"),
    ({**PT, "status": "Z", "taxes_total": "0.00"}, "status"),
    ({**PT, "customer_nif": "123456789"}, "taxes_total"),
    ({**PT, "taxes_total": "0.00", "tax_regions": [{"region": "ES"}]}, "tax_regions"),
    ({**PT, "taxes_total": "0.00", "other_information": "x" * 66}, "other_information"),
])
def test_a_malformed_field_is_422_naming_it(client, auth, signing, pt, field):
    answer = put_pt(client, auth, signing, **pt)
    assert answer.status_code == 422, answer.get_json()
    assert field in answer.get_json()["fields"]["pt"]


def test_a_retry_returns_the_same_hash_and_another_body_is_a_conflict(client, auth, signing):
    entry_id = str(uuid.uuid4())
    first = put_pt(client, auth, signing, entry_id, **PT).get_json()
    again = put_pt(client, auth, signing, entry_id, **PT).get_json()
    assert again == first
    changed = put_pt(client, auth, signing, entry_id, invoice_date="2026-01-02",
                     gross_total="99.00")
    assert changed.status_code == 409


def test_where_nothing_is_signed_pt_is_refused(client, auth, signing, sequence):
    fees = sequence["current_fees_note_sequence_id"]  # no ATCUD for this type
    assert put_entry(client, auth, series=fees).status_code == 200
    refused = put_pt(client, auth, fees, **PT)
    assert refused.status_code == 422 and "pt" in refused.get_json()["fields"]


def test_without_a_document_key_nothing_changes(client, auth, sequence):
    invoices = sequence["current_invoice_sequence_id"]
    entry = put_entry(client, auth, series=invoices).get_json()
    assert "pt" not in entry
    assert put_pt(client, auth, invoices, **PT).status_code == 422


def test_a_new_key_is_a_new_hash_control_and_the_chain_goes_on(app, client, auth, signing):
    first = put_pt(client, auth, signing, **PT).get_json()
    second_key = serialization.load_pem_private_key(
        (KEY_FILE.parent / "document-key-2.pem").read_bytes(), None)
    with app.app_context():
        account = Account.query.filter_by(name="acme").one()
        assert document_keys.set_document_key(account, second_key, "1234", Keys(TEST_SECRET),
                                              utcnow()) == 2
    second = put_pt(client, auth, signing, **PT).get_json()
    assert second["pt"]["hash_control"] == 2
    assert document_hash.verifies(second_key.public_key(),
                                  message_of(second, first["pt"]["hash"]), second["pt"]["hash"])


def _verify(client, auth, series):
    return client.get(f"{API}/series/{series}/verify", headers=auth).get_json()


def test_verify_checks_the_document_chain_and_finds_the_first_tampered_entry(
        app, client, auth, signing):
    answers = [put_pt(client, auth, signing, **PT).get_json() for _ in range(4)]
    assert _verify(client, auth, signing)["valid"] is True
    for column, change in (("gross_total", "99.99"), ("invoice_date", "2026-01-01"),
                           ("hash", answers[0]["pt"]["hash"])):
        with app.app_context():
            entry = Entry.query.filter_by(id=answers[2]["id"]).one()
            original = dict(entry.pt)
            entry.pt = {**original, column: change}
            db.session.commit()
            db.session.execute(delete(VerificationCheckpoint))
            db.session.commit()
        report = _verify(client, auth, signing)
        assert report["valid"] is False, column
        assert report["broken_at"]["number"] == 3, column
        assert "document Hash does not verify" in report["broken_at"]["problem"]
        with app.app_context():
            entry = Entry.query.filter_by(id=answers[2]["id"]).one()
            entry.pt = original
            db.session.commit()
    assert _verify(client, auth, signing)["valid"] is True


def test_verify_goes_on_from_a_checkpoint_with_the_chain(client, auth, signing):
    for _ in range(2):
        put_pt(client, auth, signing, **PT)
    assert _verify(client, auth, signing)["valid"] is True  # stores a checkpoint at 2
    put_pt(client, auth, signing, **PT)
    report = _verify(client, auth, signing)
    assert (report["valid"], report["entries"], report["checkpoint"]["number"]) == (True, 1, 2)


def test_a_signed_entry_stripped_of_its_document_is_found(app, client, auth, signing):
    answers = [put_pt(client, auth, signing, **PT).get_json() for _ in range(2)]
    with app.app_context():
        entry = Entry.query.filter_by(id=answers[1]["id"]).one()
        entry.pt = None
        db.session.commit()
    report = _verify(client, auth, signing)
    assert report["broken_at"]["number"] == 2
    assert "chain stops" in report["broken_at"]["problem"]


def test_the_qr_code_is_drawn_as_svg_and_png(client, auth, signing):
    with_qr = put_pt(client, auth, signing, **PT, taxes_total="0.00").get_json()
    base = f"{API}/series/{signing}/entries/{with_qr['id']}"
    svg = client.get(f"{base}/qr.svg", headers=auth)
    assert svg.status_code == 200 and svg.content_type == "image/svg+xml"
    assert svg.data.startswith(b"<?xml") and b"<svg" in svg.data
    png = client.get(f"{base}/qr.png", headers=auth)
    assert png.status_code == 200 and png.content_type == "image/png"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n")
    symbol = segno.make_qr(with_qr["pt"]["qr_code"], error="m", boost_error=False)
    assert symbol.error == "M"
    assert client.get(f"{base}/qr.gif", headers=auth).status_code == 404
    assert client.get(f"{base}/qr.svg").status_code == 401
    plain = put_pt(client, auth, signing, **PT).get_json()
    missing = client.get(f"{API}/series/{signing}/entries/{plain['id']}/qr.svg", headers=auth)
    assert missing.status_code == 404 and "no QR code" in missing.get_json()["message"]


def test_the_export_carries_the_saft_fields(app, client, auth, signing, sequence, tmp_path):
    answer = put_pt(client, auth, signing, **PT, system_entry_date="2026-01-02T09:15:00")
    answer = answer.get_json()
    output = tmp_path / "acme.jsonl"
    result = app.test_cli_runner().invoke(args=["export", "acme", "--output", str(output)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    entry, = [row for row in rows if row["type"] == "entry"]
    assert entry["saft"] == {
        "InvoiceNo": "FT 2023/1", "ATCUD": f"{sequence['current_invoice_validation_code']}-1",
        "Hash": answer["pt"]["hash"], "HashControl": "1", "InvoiceDate": "2026-01-02",
        "SystemEntryDate": "2026-01-02T09:15:00", "GrossTotal": "12.30"}
    key_row, = [row for row in rows if row["type"] == "document_key"]
    assert (key_row["hash_control"], key_row["certificate_number"]) == (1, "1234")
    assert key_row["public_key"] == document_keys.public_pem(KEY)
    assert "PRIVATE" not in output.read_text()


def test_a_sequence_service_series_may_opt_in(app, client, auth, signing):
    body = {"name": "Tickets", "prefix": "FS T/", "pt_signed": True}
    created = put_series(client, auth, OTHER, **body)
    assert created.status_code == 200 and created.get_json()["pt_signed"] is True
    assert put_series(client, auth, OTHER, **body).status_code == 200  # idempotent
    refused = put_entry(client, auth, series=OTHER)
    assert refused.status_code == 422 and "pt" in refused.get_json()["fields"]
    entry = put_pt(client, auth, OTHER, **PT, taxes_total="0.00").get_json()
    assert entry["code"] == "FS T/1"
    assert document_hash.verifies(KEY.public_key(), message_of(entry, None), entry["pt"]["hash"])
    assert entry["pt"]["atcud"] == "ATCUD:0"
    assert "*D:FS*" in entry["pt"]["qr_code"] and "*H:0*" in entry["pt"]["qr_code"]
    plain = put_series(client, auth, SALES).get_json()
    assert "pt_signed" not in plain
    assert "pt" not in put_entry(client, auth, series=SALES).get_json()


OTHER = "0b7e5a3c-1f2d-4c8e-9a6b-5d4c3b2a1f0e"


def test_invx_verify_checks_the_document_chain_too(app, client, auth, signing):
    answers = [put_pt(client, auth, signing, **PT).get_json() for _ in range(3)]
    runner = app.test_cli_runner()
    intact = runner.invoke(args=["verify", "acme", str(signing), "--no-progress"])
    assert intact.exit_code == 0, intact.output
    with app.app_context():
        entry = Entry.query.filter_by(id=answers[1]["id"]).one()
        entry.pt = {**entry.pt, "system_entry_date": "2026-01-02T00:00:00"}
        db.session.commit()
    broken = runner.invoke(args=["verify", "acme", str(signing), "--no-progress"])
    assert broken.exit_code == 1
    report = json.loads(broken.output)
    assert report["broken_at"]["number"] == 2
    assert "document Hash does not verify" in report["broken_at"]["problem"]


def test_a_document_key_that_cannot_be_opened_fails_its_own_requests_only(
        app, client, auth, key, sequence):
    with app.app_context():
        account = Account.query.filter_by(name="acme").one()
        document_keys.set_document_key(account, KEY, "1234",
                                       Keys("another-secret-key-0123456789abcdef"), utcnow())
    invoices = sequence["current_invoice_sequence_id"]
    refused = put_pt(client, auth, invoices, **PT)
    assert refused.status_code == 503
    assert refused.get_json()["code"] == "signing_unavailable"
    put_series(client, auth, SALES)
    with app.app_context():
        signed = batches.ticket(group=(batches.group(key)[0], ("number_id", invoices)))
        signed.pt = PT
        plain = batches.ticket(group=batches.group(key, SALES))
    batches.write(app, key, [signed, plain])
    assert plain.outcome()[1].number == 1
    with pytest.raises(errors.SigningUnavailable):
        signed.outcome()
