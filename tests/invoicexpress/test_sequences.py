"""The InvoiceXpress ``sequences`` resource over HTTP: bodies, order, ids, the default."""
import json
import re

import pytest

from invx.portugal.atcud import VALIDATION_CODE_ALPHABET

from ..support.invoicexpress import JSON_TYPE, SPEC_KEYS, SPEC_TYPES, create, defaults, listed

CODE = re.compile(f"[{VALIDATION_CODE_ALPHABET}]{{8,}}")


def test_create_answers_201_with_every_field_in_the_documented_order(client, key):
    response = create(client, key, "2023", default_sequence="1")
    assert response.status_code == 201
    assert response.headers["Content-Type"] == JSON_TYPE
    body = json.loads(response.data)  # the raw text, to see key order as sent
    assert list(body) == ["sequence"]
    sequence = body["sequence"]
    assert list(sequence) == SPEC_KEYS
    assert sequence["serie"] == "2023"
    assert sequence["default_sequence"] == 1
    assert type(sequence["id"]) is int


def test_each_type_has_its_sequence_id_at_the_documented_offset(client, key):
    sequence = create(client, key).get_json()["sequence"]
    for name, offset, _ in SPEC_TYPES:
        assert sequence[f"current_{name}_sequence_id"] == sequence["id"] + offset, name
        assert sequence[f"current_{name}_number"] == 0
        assert type(sequence[f"current_{name}_number"]) is int


def test_portuguese_sequence_has_codes_for_the_11_relevant_types_and_na_for_the_rest(client, key):
    sequence = create(client, key).get_json()["sequence"]
    codes = []
    for name, _, relevant in SPEC_TYPES:
        code = sequence[f"current_{name}_validation_code"]
        if relevant:
            assert CODE.fullmatch(code), (name, code)
            codes.append(code)
        else:
            assert code == "N/A", name
    assert len(set(codes)) == 11


def test_account_outside_portugal_gets_na_everywhere_and_calls_no_tax_authority(
        app, client, make_account):
    key = make_account("acme-es", country="ES", fiscal_id="B12345678", tax_authority="none")
    sequence = create(client, key).get_json()["sequence"]
    assert {sequence[f"current_{n}_validation_code"] for n, _, _ in SPEC_TYPES} == {"N/A"}
    from invx.extensions import db
    from invx.tax_authority.sandbox import SandboxSeries
    with app.app_context():
        assert db.session.query(SandboxSeries).count() == 0


def test_consecutive_sequences_ids_are_at_least_17_apart(client, key):
    first = create(client, key, "A").get_json()["sequence"]["id"]
    second = create(client, key, "B").get_json()["sequence"]["id"]
    assert second - first >= 17


@pytest.mark.parametrize("serie, stored", [(2017, "2017"), ("2017", "2017"), (7, "7")])
def test_serie_may_be_a_json_number_or_string_and_is_returned_as_a_string(
        client, key, serie, stored):
    response = create(client, key, serie)
    assert response.status_code == 201
    assert response.get_json()["sequence"]["serie"] == stored


def test_get_one_sequence(client, key):
    created = create(client, key).get_json()["sequence"]
    response = client.get(f"/sequences/{created['id']}.json?api_key={key}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == JSON_TYPE
    assert list(json.loads(response.data)["sequence"]) == SPEC_KEYS
    assert response.get_json() == {"sequence": created}


def test_list_returns_every_sequence_oldest_first(client, key):
    assert client.get(f"/sequences.json?api_key={key}").get_json() == {
        "sequences": [], "pagination": {"total_entries": 0, "current_page": 1,
                                        "total_pages": 0, "per_page": 30}}
    ids = [create(client, key, name).get_json()["sequence"]["id"] for name in ("A", "B", "C")]
    sequences = listed(client, key)
    assert [s["id"] for s in sequences] == ids
    assert [s["serie"] for s in sequences] == ["A", "B", "C"]
    assert all(list(s) == SPEC_KEYS for s in sequences)


def test_first_sequence_is_the_default_even_when_not_asked(client, key):
    assert create(client, key, "A").get_json()["sequence"]["default_sequence"] == 1
    assert create(client, key, "B").get_json()["sequence"]["default_sequence"] == 0
    assert defaults(client, key) == {"A": 1, "B": 0}


@pytest.mark.parametrize("flag", ["1", 1, True])
def test_default_sequence_one_switches_the_default(client, key, flag):
    create(client, key, "A")
    response = create(client, key, "B", default_sequence=flag)
    assert response.get_json()["sequence"]["default_sequence"] == 1
    assert defaults(client, key) == {"A": 0, "B": 1}


@pytest.mark.parametrize("flag", ["0", 0, False, "yes", 2, None, "", {"a": 1}, [1]])
def test_other_default_sequence_values_are_ignored(client, key, flag):
    create(client, key, "A")
    response = create(client, key, "B", default_sequence=flag)
    assert response.status_code == 201
    assert defaults(client, key) == {"A": 1, "B": 0}


def test_set_current_makes_a_sequence_the_only_default(client, key):
    create(client, key, "A")
    b = create(client, key, "B").get_json()["sequence"]["id"]
    create(client, key, "C")
    response = client.put(f"/sequences/{b}/set_current.json?api_key={key}")
    assert response.status_code == 200
    assert response.data == b""
    assert defaults(client, key) == {"A": 0, "B": 1, "C": 0}


@pytest.mark.parametrize("kwargs", [
    {"json": {"sequence": {"serie": "X", "default_sequence": "0"}}},
    {"data": "not json at all"},
    {"data": "", "content_type": None},
    {"data": '{"sequence": {}}', "content_type": "application/json; charset=utf-8"},
], ids=["sequence-body", "garbage", "no-content-type", "charset"])
def test_set_current_ignores_any_body(client, key, kwargs):
    create(client, key, "A")
    b = create(client, key, "B").get_json()["sequence"]["id"]
    response = client.put(f"/sequences/{b}/set_current.json?api_key={key}", **kwargs)
    assert response.status_code == 200
    assert defaults(client, key) == {"A": 0, "B": 1}


def test_register_when_every_type_has_a_code_is_409_007(client, key):
    sequence_id = create(client, key).get_json()["sequence"]["id"]
    response = client.put(f"/sequences/{sequence_id}/register.json?api_key={key}",
                          json={"sequence": {"serie": "ignored"}})
    assert response.status_code == 409
    assert response.headers["Content-Type"] == JSON_TYPE
    assert response.get_json() == {
        "errors": {"code": "007", "message": "All Sequences are registered in AT."}}


def test_register_on_an_account_outside_portugal_has_nothing_to_register(client, make_account):
    key = make_account("acme-fr", country="FR", fiscal_id="FR40303265045", tax_authority="none")
    sequence_id = create(client, key).get_json()["sequence"]["id"]
    response = client.put(f"/sequences/{sequence_id}/register.json?api_key={key}")
    assert response.status_code == 409
    assert response.get_json()["errors"]["code"] == "007"
