"""The Sequence Service's Bearer tokens: the account's API key, checked first."""
import uuid

import pytest

from ..support.sequence_service import API, SALES, put_entry, put_series


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
