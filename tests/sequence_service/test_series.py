"""Series: created idempotently under the client's UUID, with their numbering format."""

import pytest

from ..support.openapi import validate
from ..support.sequence_service import API, SALES, put_entry, put_series


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


def test_series_ids_belong_to_their_account(client, auth, make_account):
    """Another account's PUT of the same id creates its own series, answered exactly as if
    nobody had that id (issue 18: it used to be 409, telling that the id was taken)."""
    other = {"Authorization": f"Bearer {make_account('other', fiscal_id='555555550')}"}
    assert client.get(f"{API}/series/{SALES}", headers=other).status_code == 404
    mine = put_series(client, auth, name="Mine", prefix="A-").get_json()
    theirs = put_series(client, other, name="Theirs", prefix="B-")
    assert theirs.status_code == 200
    theirs = theirs.get_json()
    assert theirs["id"] == mine["id"] == SALES
    assert (theirs["name"], theirs["last_index"]) == ("Theirs", 0)
    # Each numbers its own series, the same entry id included.
    entry_id = "6fa85f64-5717-4562-b3fc-2c963f66afa6"
    first = put_entry(client, auth, entry_id=entry_id).get_json()
    second = put_entry(client, other, entry_id=entry_id).get_json()
    assert (first["code"], second["code"]) == ("A-1", "B-1")
    assert put_entry(client, other).get_json()["code"] == "B-2"
    assert client.get(f"{API}/series/{SALES}", headers=auth).get_json()["last_index"] == 1
    assert [e["code"] for e in client.get(f"{API}/series/{SALES}/entries",
                                          headers=other).get_json()["list"]] == ["B-2", "B-1"]
    for headers in (auth, other):
        assert client.get(f"{API}/series/{SALES}/verify", headers=headers).get_json()["valid"]
    assert put_series(client, other, name="Mine", prefix="A-").status_code == 409  # its own


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
    ({"sig": "a.b.c\n"}, "sig"),
])
def test_invalid_series_fields_are_422_with_fields(client, auth, body, field):
    response = put_series(client, auth, **body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["code"] == "invalid"
    assert field in payload["fields"]


@pytest.mark.parametrize("data", ["{not json", "[]", '"x"', "", " \n"])
def test_a_series_body_that_is_not_a_json_object_is_400(client, auth, data):
    response = client.put(f"{API}/series/{SALES}", data=data, headers=auth,
                          content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["code"] == "bad_request"


def test_a_series_id_must_be_a_uuid(client, auth):
    response = put_series(client, auth, series_id="not-a-uuid")
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"id": "must be a UUID"}


def test_list_series(client, auth):
    put_series(client, auth)
    listed = client.get(f"{API}/series", headers=auth).get_json()["list"]
    assert [s["id"] for s in listed] == [SALES]
