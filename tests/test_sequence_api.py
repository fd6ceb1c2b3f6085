"""The Sequence Service API: series, entries, idempotency, chain, signatures, verification."""
import uuid

import pytest
from openapi_schema_validator import OAS30Validator
from sqlalchemy import delete, text, update

from invx import jws, signing
from invx.extensions import db
from invx.models import Entry, Series

from .test_openapi import document, resolve

API = "/sequence/v1"
SALES = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


@pytest.fixture
def auth(key):
    return {"Authorization": f"Bearer {key}"}


def put_series(client, auth, series_id=SALES, **body):
    body = body or {"name": "Sales", "code": "SALES-2020", "prefix": "INV-", "padding": 5,
                    "suffix": "-F1"}
    return client.put(f"{API}/series/{series_id}", json=body, headers=auth)


def put_entry(client, auth, series=SALES, entry_id=None, **body):
    entry_id = entry_id or str(uuid.uuid4())
    return client.put(f"{API}/series/{series}/entries/{entry_id}", json=body or None,
                      headers=auth)


def validate(client, path, method, status, body):
    doc = document(client)
    schema = doc["paths"][path][method]["responses"][status]["content"]["application/json"]
    OAS30Validator(resolve(doc, schema["schema"])).validate(body)


def test_a_series_is_created_with_every_field(client, auth):
    response = put_series(client, auth)
    assert response.status_code == 200
    series = response.get_json()
    assert list(series) == ["id", "name", "description", "code", "prefix", "padding", "suffix",
                            "start", "last_index", "last_entry_id", "sigs", "created_at",
                            "updated_at"]
    assert series["id"] == SALES
    assert (series["name"], series["code"], series["prefix"], series["padding"],
            series["suffix"]) == ("Sales", "SALES-2020", "INV-", 5, "-F1")
    assert (series["start"], series["last_index"], series["last_entry_id"]) == (1, 0, None)
    assert series["sigs"] == []
    validate(client, "/sequence/v1/series/{id}", "put", "200", series)


def test_creating_a_series_again_with_the_same_body_returns_it(client, auth):
    first = put_series(client, auth).get_json()
    again = put_series(client, auth)
    assert again.status_code == 200
    assert again.get_json() == first
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json() == first


def test_creating_a_series_again_with_another_body_is_409(client, auth):
    put_series(client, auth)
    response = put_series(client, auth, name="Other", prefix="X-")
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_another_accounts_series_id_is_409_and_invisible(client, auth, make_account):
    put_series(client, auth)
    other = {"Authorization": f"Bearer {make_account('other', fiscal_id='555555550')}"}
    assert put_series(client, other).status_code == 409
    assert client.get(f"{API}/series/{SALES}", headers=other).status_code == 404
    assert put_entry(client, other).status_code == 404


@pytest.mark.parametrize("body, start", [({}, 1), ({"start": 100}, 100),
                                         ({"last_index": 99}, 100), ({"start": 0}, 0)])
def test_start_and_last_index(client, auth, body, start):
    series = put_series(client, auth, name="plain", **body).get_json()
    assert (series["start"], series["last_index"]) == (start, start - 1)
    assert put_entry(client, auth).get_json()["code"] == str(start)


@pytest.mark.parametrize("body, field", [
    ({"padding": -1}, "padding"), ({"padding": 33}, "padding"), ({"padding": "5"}, "padding"),
    ({"padding": True}, "padding"), ({"start": -1}, "start"), ({"start": 1.5}, "start"),
    ({"start": 5, "last_index": 5}, "last_index"), ({"name": "x" * 256}, "name"),
    ({"prefix": 7}, "prefix"), ({"sig": "not a jws"}, "sig"),
    ({"prefix": "A\x00"}, "prefix"), ({"name": "caf\ud800"}, "name"),
])
def test_invalid_series_fields_are_422_with_fields(client, auth, body, field):
    response = put_series(client, auth, **body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["code"] == "invalid"
    assert field in payload["fields"]


@pytest.mark.parametrize("data", ["{not json", "[]", '"x"', ""])
def test_a_series_body_that_is_not_a_json_object_is_400(client, auth, data):
    response = client.put(f"{API}/series/{SALES}", data=data, headers=auth,
                          content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_a_series_id_must_be_a_uuid(client, auth):
    response = put_series(client, auth, series_id="not-a-uuid")
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"id": "must be a UUID"}


def test_entries_are_numbered_and_coded_with_prefix_padding_and_suffix(client, auth):
    put_series(client, auth)
    codes = [put_entry(client, auth).get_json()["code"] for _ in range(3)]
    assert codes == ["INV-00001-F1", "INV-00002-F1", "INV-00003-F1"]
    series = client.get(f"{API}/series/{SALES}", headers=auth).get_json()
    assert series["last_index"] == 3


def test_an_entry_has_every_field_and_a_chain_link(client, auth):
    put_series(client, auth)
    first = put_entry(client, auth, meta={"customer": "ACME"}).get_json()
    assert list(first) == ["id", "series_id", "code", "meta", "sigs", "created_at",
                           "updated_at"]
    assert first["meta"] == {"customer": "ACME"}
    second = put_entry(client, auth).get_json()
    assert second["previous_id"] == first["id"]
    assert second["meta"] == {}
    validate(client, "/sequence/v1/series/{series_id}/entries/{id}", "put", "200", second)
    series = client.get(f"{API}/series/{SALES}", headers=auth).get_json()
    assert series["last_entry_id"] == second["id"]


def test_the_server_signs_each_entry_with_es256_over_its_key_properties(client, auth):
    put_series(client, auth)
    first = put_entry(client, auth).get_json()
    second = put_entry(client, auth).get_json()
    keys = {k["kid"]: jws.key_from_jwk(k) for k in
            client.get(f"{API}/keys").get_json()["keys"]}
    header, _ = jws.header_and_payload(second["sigs"][0])
    assert header["alg"] == "ES256" and header["kid"] in keys
    payload = jws.verify(second["sigs"][0], keys)
    assert {k: payload[k] for k in ("id", "cid", "pid", "num")} == {
        "id": second["id"], "cid": SALES, "pid": first["id"], "num": "INV-00002-F1"}
    assert isinstance(payload["ts"], int)
    assert "pid" not in jws.verify(first["sigs"][0], keys)


def test_a_clients_signature_is_kept_beside_the_servers(client, auth):
    put_series(client, auth)
    client_sig = "eyJhbGciOiJFUzI1NiJ9.eyJpZCI6IngifQ.c2ln"
    entry = put_entry(client, auth, sig=client_sig).get_json()
    assert len(entry["sigs"]) == 2 and entry["sigs"][1] == client_sig


def test_a_retry_with_the_same_id_and_body_returns_the_same_entry_and_uses_no_number(
        client, auth):
    put_series(client, auth)
    entry_id = str(uuid.uuid4())
    first = put_entry(client, auth, entry_id=entry_id, meta={"a": "1"}).get_json()
    again = put_entry(client, auth, entry_id=entry_id.upper(), meta={"a": "1"})
    assert again.status_code == 200
    assert again.get_json() == first
    assert put_entry(client, auth).get_json()["code"] == "INV-00002-F1"


def test_the_same_id_with_another_body_is_409(client, auth):
    put_series(client, auth)
    entry_id = str(uuid.uuid4())
    put_entry(client, auth, entry_id=entry_id, meta={"a": "1"})
    response = put_entry(client, auth, entry_id=entry_id, meta={"a": "2"})
    assert response.status_code == 409
    assert response.get_json()["code"] == "conflict"


def test_the_same_id_in_another_series_is_409(client, auth):
    put_series(client, auth)
    other = str(uuid.uuid4())
    put_series(client, auth, series_id=other, prefix="B-")
    entry_id = str(uuid.uuid4())
    put_entry(client, auth, entry_id=entry_id)
    response = put_entry(client, auth, series=other, entry_id=entry_id)
    assert response.status_code == 409
    assert put_entry(client, auth, series=other).get_json()["code"] == "B-1"


@pytest.mark.parametrize("body, field", [
    ({"meta": {"a": 1}}, "meta"), ({"meta": ["a"]}, "meta"), ({"sig": 5}, "sig"),
    ({"meta": {str(n): "v" for n in range(65)}}, "meta"),
    ({"meta": {"a": "\ud800"}}, "meta"), ({"meta": {"\udfff": "a"}}, "meta"),
    ({"meta": {"a": "b\x00"}}, "meta"),
])
def test_invalid_entry_bodies_are_422(client, auth, body, field):
    put_series(client, auth)
    response = put_entry(client, auth, **body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json()["last_index"] == 0


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'"x"', b"\xff\xfe\xfa",
                                  b'{"meta": \xe9}', b"[" * 100_000], ids=lambda d: d[:12])
def test_an_entry_body_that_is_not_a_json_object_is_400_and_takes_no_number(client, auth,
                                                                             data):
    put_series(client, auth)
    response = client.put(f"{API}/series/{SALES}/entries/{uuid.uuid4()}", data=data,
                          headers=auth, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json()["last_index"] == 0


def test_an_entry_body_may_be_utf16_json(client, auth):
    put_series(client, auth)
    response = client.put(f"{API}/series/{SALES}/entries/{uuid.uuid4()}",
                          data='{"meta": {"cliente": "Jo\u00e3o"}}'.encode("utf-16"),
                          headers=auth, content_type="application/json")
    assert response.status_code == 200
    assert response.get_json()["meta"] == {"cliente": "Jo\u00e3o"}


def test_an_entry_id_must_be_a_uuid(client, auth):
    put_series(client, auth)
    response = put_entry(client, auth, entry_id="12345")
    assert response.status_code == 422


def test_get_an_entry(client, auth):
    put_series(client, auth)
    entry = put_entry(client, auth).get_json()
    response = client.get(f"{API}/series/{SALES}/entries/{entry['id']}", headers=auth)
    assert response.get_json() == entry
    missing = client.get(f"{API}/series/{SALES}/entries/{uuid.uuid4()}", headers=auth)
    assert missing.status_code == 404 and missing.get_json()["code"] == "not_found"


def test_listing_pages_newest_first_with_an_opaque_cursor(client, auth):
    put_series(client, auth)
    for _ in range(7):
        put_entry(client, auth)
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"{API}/series/{SALES}/entries?{query}", headers=auth).get_json()
        assert page["series_id"] == SALES and page["limit"] == 3
        seen += [entry["code"] for entry in page["list"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == [f"INV-{n:05d}-F1" for n in range(7, 0, -1)]
    validate(client, "/sequence/v1/series/{series_id}/entries", "get", "200", page)


def test_listing_has_a_default_and_a_maximum_limit(client, auth):
    put_series(client, auth)
    for _ in range(25):
        put_entry(client, auth)
    page = client.get(f"{API}/series/{SALES}/entries", headers=auth).get_json()
    assert page["limit"] == 20 and len(page["list"]) == 20 and page["cursor"]
    for bad in ("0", "101", "x", "-1"):
        response = client.get(f"{API}/series/{SALES}/entries?limit={bad}", headers=auth)
        assert response.status_code == 422
    response = client.get(f"{API}/series/{SALES}/entries?cursor=garbage", headers=auth)
    assert response.status_code == 422 and "cursor" in response.get_json()["fields"]


def test_list_series(client, auth):
    put_series(client, auth)
    listed = client.get(f"{API}/series", headers=auth).get_json()["list"]
    assert [s["id"] for s in listed] == [SALES]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-0123456789"},
                                     {"Authorization": "Basic abc"}])
def test_without_a_valid_bearer_token_it_is_401(client, key, headers):
    for method, path in (("get", "/series"), ("put", f"/series/{SALES}"),
                         ("put", f"/series/{SALES}/entries/{uuid.uuid4()}")):
        response = getattr(client, method)(API + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.get_json()["code"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_entry_request_is_told_401_before_anything_else_is_wrong_with_it(client, auth):
    put_series(client, auth)
    wrong = {"Authorization": "Bearer wrong-key-0123456789"}
    for path, body in ((f"/series/{SALES}/entries/not-a-uuid", {}),
                       (f"/series/{SALES}/entries/{uuid.uuid4()}", {"meta": "not an object"}),
                       (f"/series/not-a-series/entries/{uuid.uuid4()}", {}),
                       (f"/series/{uuid.uuid4()}/entries/{uuid.uuid4()}", {})):
        assert client.put(API + path, headers=wrong, json=body).status_code == 401, path
    assert client.put(f"{API}/series/{SALES}/entries/not-a-uuid", headers=auth,
                      json={}).status_code == 422
    assert client.put(f"{API}/series/not-a-series/entries/{uuid.uuid4()}", headers=auth,
                      json={}).status_code == 404


def test_a_rotated_key_numbers_nothing_more(app, client, auth):
    from invx.accounts import rotate_key
    put_series(client, auth)
    assert put_entry(client, auth).status_code == 200
    with app.app_context():
        _, new_key = rotate_key("acme")
    assert put_entry(client, auth).status_code == 401
    entry = put_entry(client, {"Authorization": f"Bearer {new_key}"}).get_json()
    assert entry["code"] == "INV-00002-F1"  # the refused request took no number


def test_the_keys_are_public(client, auth):
    put_series(client, auth)
    put_entry(client, auth)
    keys = client.get(f"{API}/keys").get_json()["keys"]
    assert keys and {k["alg"] for k in keys} == {"ES256"}
    assert all("d" not in k for k in keys)  # never the private half


def test_rotated_keys_stay_published_and_old_entries_still_verify(app, client, auth):
    put_series(client, auth)
    old = put_entry(client, auth).get_json()
    with app.app_context():
        new_kid = signing.rotate(app.config["INVX_SECRET_KEY"])
    new = put_entry(client, auth).get_json()
    assert jws.header_and_payload(new["sigs"][0])[0]["kid"] == new_kid
    assert jws.header_and_payload(old["sigs"][0])[0]["kid"] != new_kid
    kids = [k["kid"] for k in client.get(f"{API}/keys").get_json()["keys"]]
    assert kids[0] == new_kid and len(kids) >= 2
    assert client.get(f"{API}/series/{SALES}/verify", headers=auth).get_json()["valid"]


def test_private_keys_are_sealed_at_rest(app, client, auth):
    put_series(client, auth)
    put_entry(client, auth)
    with app.app_context():
        stored = db.session.execute(text("SELECT private_key FROM signing_keys")).scalars().all()
    assert stored and not any("PRIVATE KEY" in value for value in stored)


def test_without_invx_secret_key_entries_are_refused_clearly(app, client, auth, monkeypatch):
    put_series(client, auth)
    monkeypatch.setitem(app.config, "INVX_SECRET_KEY", "a-different-secret-0123456789")
    monkeypatch.setattr(signing, "_signers", {})
    response = put_entry(client, auth)
    assert response.status_code == 503
    assert "INVX_SECRET_KEY" in response.get_json()["message"]
    monkeypatch.setitem(app.config, "INVX_SECRET_KEY", None)
    assert put_entry(client, auth).status_code == 503


# --- verification catches tampering ---------------------------------------------------

@pytest.fixture
def chain(app, client, auth):
    put_series(client, auth)
    return [put_entry(client, auth).get_json() for _ in range(5)]


def verify(client, auth):
    response = client.get(f"{API}/series/{SALES}/verify", headers=auth)
    validate(client, "/sequence/v1/series/{id}/verify", "get", "200", response.get_json())
    return response.get_json()


def tamper(app, statement):
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()


def test_an_intact_series_verifies(client, auth, chain):
    assert verify(client, auth) == {"series_id": SALES, "valid": True, "entries": 5,
                                    "first_number": 1, "last_number": 5}


def test_a_removed_entry_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[2]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False
    assert report["broken_at"]["number"] == 4
    assert "missing" in report["broken_at"]["problem"]


def test_a_removed_last_entry_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[4]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False and "missing at the end" in report["broken_at"]["problem"]


def test_an_altered_code_is_caught(app, client, auth, chain):
    tamper(app, update(Entry).where(Entry.id == chain[1]["id"]).values(code="INV-99999-F1"))
    report = verify(client, auth)
    assert report["broken_at"]["number"] == 2 and report["valid"] is False


def test_a_renumbered_entry_with_a_matching_code_is_caught(app, client, auth, chain):
    tamper(app, delete(Entry).where(Entry.id == chain[4]["id"]))
    tamper(app, update(Entry).where(Entry.id == chain[3]["id"])
           .values(number=5, code="INV-00005-F1"))
    tamper(app, update(Series).where(Series.id == SALES)
           .values(last_number=5, last_entry_id=chain[3]["id"]))
    report = verify(client, auth)
    assert report["valid"] is False
    assert report["broken_at"]["number"] == 5


def test_a_relinked_chain_is_caught(app, client, auth, chain):
    tamper(app, update(Entry).where(Entry.id == chain[3]["id"])
           .values(previous_id=chain[1]["id"]))
    report = verify(client, auth)
    assert report["broken_at"]["entry_id"] == chain[3]["id"]
    assert "previous_id" in report["broken_at"]["problem"]


def test_a_forged_signature_is_caught(app, client, auth, chain):
    forged = jws.sign(jws.new_private_key(), jws.header_and_payload(chain[0]["sigs"][0])[0]["kid"],
                      {"id": chain[2]["id"], "cid": SALES, "pid": chain[1]["id"],
                       "num": "INV-00003-F1", "ts": 0})
    tamper(app, update(Entry).where(Entry.id == chain[2]["id"]).values(sig=forged))
    report = verify(client, auth)
    assert report["broken_at"]["number"] == 3
    assert "signature" in report["broken_at"]["problem"]


def test_the_verify_command_exits_non_zero_on_tampering(app, client, auth, chain):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 0 and '"valid": true' in result.output
    tamper(app, delete(Entry).where(Entry.id == chain[2]["id"]))
    result = runner.invoke(args=["verify", "acme", SALES])
    assert result.exit_code == 1 and '"valid": false' in result.output
    assert runner.invoke(args=["verify", "acme", str(uuid.uuid4())]).exit_code == 1


# --- InvoiceXpress sub-series are series -----------------------------------------------

@pytest.fixture
def sequence(client, key):
    return client.post(f"/sequences.json?api_key={key}",
                       json={"sequence": {"serie": "2023"}}).get_json()["sequence"]


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


def test_workers_starting_together_make_one_first_signing_key(app, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from invx.models import SigningKey
    tamper(app, delete(SigningKey))
    monkeypatch.setattr(signing, "_signers", {})
    barrier = __import__("threading").Barrier(8)

    def first_signer(_):
        with app.app_context():
            barrier.wait()
            kid, _ = signing.signer(app.config["INVX_SECRET_KEY"])
            db.session.rollback()
            monkeypatch.setattr(signing, "_signers", {})  # as if each were its own process
            return kid

    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(first_signer, range(8)))
    with app.app_context():
        assert db.session.query(SigningKey).count() == 1
    assert len(kids) == 1
