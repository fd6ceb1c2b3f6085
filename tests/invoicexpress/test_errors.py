"""The errors of POST /sequences.json, exactly as the seed documents them."""

import pytest

from ..support.invoicexpress import JSON_TYPE, create, listed


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
    from invx.invoicexpress import sequences

    def explode(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(sequences, "list_sequences", explode)
    response = client.get(f"/sequences.json?api_key={key}")
    assert response.status_code == 500
    assert response.get_json() == {"code": "000", "message": "Unknown error."}
    assert b"secret" not in response.data
