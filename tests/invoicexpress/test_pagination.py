"""GET /sequences.json by page: ``page`` and ``per_page``, and the ``pagination`` object of
InvoiceXpress's lists; a client that ignores them sees what it saw before."""
import json

import pytest

from ..support.invoicexpress import SPEC_KEYS, create
from ..support.openapi import validate


def _list(client, key, query=""):
    return client.get(f"/sequences.json?api_key={key}{query}")


def _add_sequences(client, key, count):
    """``count`` sequences, named S1, S2... in creation order."""
    for n in range(1, count + 1):
        assert create(client, key, f"S{n}").status_code == 201


def test_the_pagination_object_follows_the_list(client, key):
    for serie in ("A", "B", "C"):
        create(client, key, serie)
    response = _list(client, key)
    body = json.loads(response.data)
    assert list(body) == ["sequences", "pagination"]
    assert list(body["pagination"]) == ["total_entries", "current_page", "total_pages",
                                        "per_page"]
    assert body["pagination"] == {"total_entries": 3, "current_page": 1, "total_pages": 1,
                                  "per_page": 30}
    assert [s["serie"] for s in body["sequences"]] == ["A", "B", "C"]
    assert all(list(s) == SPEC_KEYS for s in body["sequences"])
    validate(client, "/sequences.json", "get", "200", body)


def test_pages_walk_the_sequences_oldest_first(client, key):
    for serie in ("A", "B", "C", "D", "E"):
        create(client, key, serie)
    pages = [_list(client, key, f"&page={n}&per_page=2").get_json() for n in (1, 2, 3, 4)]
    assert [[s["serie"] for s in page["sequences"]] for page in pages] == [
        ["A", "B"], ["C", "D"], ["E"], []]
    assert [page["pagination"] for page in pages] == [
        {"total_entries": 5, "current_page": n, "total_pages": 3, "per_page": 2}
        for n in (1, 2, 3, 4)]


def test_without_parameters_the_first_thirty_as_invoicexpress_does(client, es_key):
    key = es_key  # outside Portugal: nothing to register, so quicker to make
    _add_sequences(client, key, 31)
    body = _list(client, key).get_json()
    assert len(body["sequences"]) == 30 and body["sequences"][0]["serie"] == "S1"
    assert body["pagination"] == {"total_entries": 31, "current_page": 1, "total_pages": 2,
                                  "per_page": 30}
    assert [s["serie"] for s in _list(client, key, "&page=2").get_json()["sequences"]] == [
        "S31"]


def test_per_page_above_the_maximum_gives_the_maximum(client, es_key):
    key = es_key
    _add_sequences(client, key, 101)
    body = _list(client, key, "&per_page=1000").get_json()
    assert len(body["sequences"]) == 100 and body["pagination"]["per_page"] == 100
    assert body["pagination"]["total_pages"] == 2


@pytest.mark.parametrize("query", [
    "&page=0", "&page=-1", "&page=", "&page=x", "&page=1.5", "&page=²", "&page=%D9%A1",
    "&per_page=0", "&per_page=", "&per_page=-5", "&per_page=①", "&page=" + "9" * 19,
    "&page=" + "9" * 5000])
def test_a_page_that_cannot_be_is_404_with_an_empty_body(client, key, query):
    create(client, key, "A")
    response = _list(client, key, query)
    assert response.status_code == 404 and response.data == b""


@pytest.mark.parametrize("page", ["2", "1000000", "9" * 18])
def test_a_page_past_the_last_is_empty(client, key, page):
    create(client, key, "A")
    response = _list(client, key, f"&page={page}&per_page=100")
    assert response.status_code == 200
    assert response.get_json() == {"sequences": [], "pagination": {
        "total_entries": 1, "current_page": int(page), "total_pages": 1, "per_page": 100}}
