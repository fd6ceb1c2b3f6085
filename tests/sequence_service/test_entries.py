"""Entries: numbered, coded, chained, idempotent by the client's UUID, listed by page."""
import uuid

import pytest

from invx.sequence_service import jws

from ..support.openapi import validate
from ..support.sequence_service import API, SALES, put_entry, put_series


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
    ({"meta": {"a": "b\x00"}}, "meta"), ({"sig": "a.b.c\n"}, "sig"), ({"sig": "a.b.c d"}, "sig"),
])
def test_invalid_entry_bodies_are_422(client, auth, body, field):
    put_series(client, auth)
    response = put_entry(client, auth, **body)
    assert response.status_code == 422
    assert field in response.get_json()["fields"]
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json()["last_index"] == 0


@pytest.mark.parametrize("data", [b"{not json", b"[]", b'"x"', b"\xff\xfe\xfa",
                                  b'{"meta": \xe9}', b"[" * 100_000, b" ", b"\n", b"\t \r\n"],
                         ids=repr)
def test_an_entry_body_that_is_not_a_json_object_is_400_and_takes_no_number(client, auth,
                                                                             data):
    put_series(client, auth)
    response = client.put(f"{API}/series/{SALES}/entries/{uuid.uuid4()}", data=data,
                          headers=auth, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json()["last_index"] == 0


def test_an_entry_body_may_be_left_out(client, auth):
    put_series(client, auth)
    response = client.put(f"{API}/series/{SALES}/entries/{uuid.uuid4()}", data=b"",
                          headers=auth, content_type="application/json")
    assert response.status_code == 200 and response.get_json()["meta"] == {}


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


@pytest.mark.parametrize("query, field", [
    ("limit=", "limit"), ("limit=%C2%B2", "limit"), ("limit=%D9%A3", "limit"),
    ("limit=%EF%BC%95", "limit"), ("cursor=", "cursor")])
def test_an_empty_limit_or_cursor_or_one_of_other_digits_than_ascii_is_422(client, auth,
                                                                           query, field):
    put_series(client, auth)
    put_entry(client, auth)
    response = client.get(f"{API}/series/{SALES}/entries?{query}", headers=auth)
    assert response.status_code == 422
    assert list(response.get_json()["fields"]) == [field]
