"""The InvoiceXpress ``sequences`` resource over HTTP: bodies, codes, order, ids, auth."""
import json
import re

import pytest

from invx.fiscal import VALIDATION_CODE_ALPHABET

# The spec's table, written out independently of invx.doctypes: (type, offset, relevant).
SPEC_TYPES = [
    ("invoice", 0, True), ("invoice_receipt", 2, True), ("simplified_invoice", 1, True),
    ("credit_note", 5, True), ("debit_note", 4, True), ("receipt", 3, True),
    ("shipping", 14, True), ("transport", 16, True), ("devolution", 15, True),
    ("proforma", 12, True), ("quote", 11, True), ("fees_note", 13, False),
    ("vat_moss_invoice", 7, False), ("vat_moss_credit_note", 8, False),
    ("vat_moss_receipt", 9, False),
]
SPEC_KEYS = ["id", "serie", "default_sequence"] + [
    f"current_{name}_{field}" for name, _, _ in SPEC_TYPES
    for field in ("number", "sequence_id", "validation_code")]
CODE = re.compile(f"[{VALIDATION_CODE_ALPHABET}]{{8,}}")
JSON_TYPE = "application/json; charset=utf-8"


def create(client, key, serie="2026", path="/sequences.json", **sequence):
    return client.post(f"{path}?api_key={key}", json={"sequence": {"serie": serie, **sequence}})


def listed(client, key):
    response = client.get(f"/sequences.json?api_key={key}")
    assert response.status_code == 200
    return response.get_json()["sequences"]


def defaults(client, key):
    return {s["serie"]: s["default_sequence"] for s in listed(client, key)}


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
    assert client.get(f"/sequences.json?api_key={key}").get_json() == {"sequences": []}
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


# --- errors of POST, exactly as the seed documents them ---------------------------------

def assert_error(response, code, message, status=422):
    assert response.status_code == status
    assert response.headers["Content-Type"] == JSON_TYPE
    assert response.get_json() == {"code": code, "message": message}


@pytest.mark.parametrize("serie", [
    "", "a b", "2023/1", "Série", "-2023", "2023-", "20..23", "a" * 36, "A_-B", "2023 ", "2023\n",
])
def test_serie_breaking_at_identifier_rules_is_001(client, key, serie):
    assert_error(create(client, key, serie), "001", "Sequence name not allowed.")


def test_negative_number_serie_is_001(client, key):
    assert_error(create(client, key, -5), "001", "Sequence name not allowed.")


def test_existing_serie_is_002_ignoring_case(client, key):
    assert create(client, key, "AB").status_code == 201
    for name in ("AB", "ab", "Ab", "aB"):
        assert_error(create(client, key, name), "002", "Sequence already exists.")
    assert len(listed(client, key)) == 1


def test_the_same_serie_in_two_accounts_with_different_nifs(client, make_account):
    first = make_account("one", fiscal_id="123456789")
    second = make_account("two", fiscal_id="555555550")
    assert create(client, first, "2026").status_code == 201
    assert create(client, second, "2026").status_code == 201


def test_serie_already_registered_at_at_by_the_same_taxpayer_is_002(client, make_account):
    first = make_account("one", fiscal_id="123456789")
    second = make_account("two", fiscal_id="123456789")
    assert create(client, first, "2026").status_code == 201
    assert_error(create(client, second, "2026"), "002", "Sequence already exists.")
    assert listed(client, second) == []


@pytest.mark.parametrize("data", [
    "{not json", "[]", "null", "3", '"sequence"', "{}", '{"sequence": null}',
    '{"sequence": "2023"}', '{"sequence": []}', '{"sequence": {}}',
    '{"sequence": {"serie": null}}', '{"sequence": {"serie": true}}',
    '{"sequence": {"serie": ["2023"]}}', '{"sequence": {"serie": {"a": 1}}}',
    '{"serie": "2023"}', "\xff\xfe", '{"sequence": {"serie": NaN}}',
    '{"sequence": ' * 10_000,  # nested deeper than the parser recurses
], ids=lambda d: d[:24])
def test_malformed_or_invalid_body_is_003(client, key, data):
    response = client.post(f"/sequences.json?api_key={key}", data=data,
                           content_type="application/json")
    assert_error(response, "003", "Invalid sequence.")


def test_body_without_a_content_type_is_accepted(client, key):
    response = client.post(f"/sequences.json?api_key={key}",
                           data='{"sequence": {"serie": "2026"}}', content_type=None)
    assert response.status_code == 201


def test_unknown_fields_are_ignored(client, key):
    response = create(client, key, "2026", unknown="x", id=99)
    assert response.status_code == 201


def test_portuguese_account_without_tax_authority_is_004_and_creates_nothing(
        client, make_account):
    key = make_account("acme-none", tax_authority="none")
    assert_error(create(client, key), "004", "Invalid Tax Authority credentials.")
    assert listed(client, key) == []


def test_body_over_the_size_limit_is_413_not_a_500(client, key):
    response = client.post(f"/sequences.json?api_key={key}", data="x" * (1024 * 1024 + 1),
                           content_type="application/json")
    assert response.status_code == 413
    assert response.data == b""


def test_unexpected_failure_is_a_generic_500_without_details(client, key, monkeypatch):
    from invx import registration

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(registration, "list_sequences", explode)
    response = client.get(f"/sequences.json?api_key={key}")
    assert response.status_code == 500
    assert response.get_json() == {"code": "000", "message": "Unknown error."}
    assert b"secret" not in response.data


# --- authentication, the host rule, isolation -------------------------------------------

ENDPOINTS = [
    ("get", "/sequences.json"), ("get", "/sequences/{id}.json"), ("post", "/sequences.json"),
    ("put", "/sequences/{id}/set_current.json"), ("put", "/sequences/{id}/register.json"),
]


@pytest.mark.parametrize("method, path", ENDPOINTS)
@pytest.mark.parametrize("query", ["", "?api_key=", "?api_key=wrong-key-0123456789",
                                   "?api_key=0123456789abcdef%20"])
def test_missing_or_wrong_key_is_401_with_an_empty_body(client, key, method, path, query):
    sequence_id = create(client, key).get_json()["sequence"]["id"]
    response = getattr(client, method)(path.format(id=sequence_id) + query,
                                       json={"sequence": {"serie": "X"}})
    assert response.status_code == 401
    assert response.data == b""


@pytest.mark.parametrize("method, path", ENDPOINTS[1:2] + ENDPOINTS[3:])
def test_another_accounts_sequence_is_404_with_an_empty_body(client, make_account, method, path):
    owner = make_account("owner", fiscal_id="123456789")
    other = make_account("other", fiscal_id="555555550")
    sequence_id = create(client, owner).get_json()["sequence"]["id"]
    response = getattr(client, method)(path.format(id=sequence_id) + f"?api_key={other}")
    assert response.status_code == 404
    assert response.data == b""
    assert defaults(client, owner) == {"2026": 1}


@pytest.mark.parametrize("method, path", ENDPOINTS[1:2] + ENDPOINTS[3:])
@pytest.mark.parametrize("offset", [1, 16, 17 * 1000])
def test_unknown_ids_and_sub_series_ids_are_404(client, key, method, path, offset):
    sequence_id = create(client, key).get_json()["sequence"]["id"]
    response = getattr(client, method)(path.format(id=sequence_id + offset) + f"?api_key={key}")
    assert response.status_code == 404
    assert response.data == b""


@pytest.mark.parametrize("path", ["/sequences/0.json", "/sequences/-17.json",
                                  "/sequences/abc.json", "/sequences/99999999999999999999999.json",
                                  "/sequences", "/sequence.json", "/"])
def test_paths_that_name_no_sequence_are_404_with_an_empty_body(client, key, path):
    response = client.get(f"{path}?api_key={key}")
    assert response.status_code == 404
    assert response.data == b""


def test_wrong_method_is_405_with_an_empty_body(client, key):
    response = client.delete(f"/sequences.json?api_key={key}")
    assert response.status_code == 405
    assert response.data == b""


def test_accounts_see_only_their_own_sequences(client, make_account):
    one = make_account("one", fiscal_id="123456789")
    two = make_account("two", fiscal_id="555555550")
    create(client, one, "ONE")
    create(client, two, "TWO")
    assert [s["serie"] for s in listed(client, one)] == ["ONE"]
    assert [s["serie"] for s in listed(client, two)] == ["TWO"]


@pytest.mark.parametrize("host, status", [
    ("acme.app.invoicexpress.com", 200),
    ("ACME.app.invoicexpress.com:443", 200),
    ("other.app.invoicexpress.com", 401),
    ("other.localhost:8000", 401),
    ("127.0.0.1:8000", 200),
    ("localhost", 200),
    ("[::1]:8000", 200),
    ("invx.example.com", 200),  # "invx" is no account: the host names nobody
])
def test_host_naming_another_account_is_401(client, key, make_account, host, status):
    make_account("other", fiscal_id="555555550")
    response = client.get(f"/sequences.json?api_key={key}", headers={"Host": host})
    assert response.status_code == status
    if status == 401:
        assert response.data == b""


def test_rotated_key_stops_working_and_the_new_one_works(app, client, key):
    from invx.accounts import rotate_key
    with app.app_context():
        _, new_key = rotate_key("acme")
    assert client.get(f"/sequences.json?api_key={key}").status_code == 401
    assert client.get(f"/sequences.json?api_key={new_key}").status_code == 200


def test_openapi_is_public_json(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.get_json()["openapi"].startswith("3.")
