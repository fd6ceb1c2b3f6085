"""The api_key, the host rule, and isolation between accounts."""

import pytest

from ..support.invoicexpress import create, defaults, listed

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
    ("acme.app.invoicexpress.com.", 200),
    ("other.app.invoicexpress.com", 401),  # an account that exists...
    ("other.app.invoicexpress.com:99999", 401),  # a port Werkzeug cannot read
    ("other.app.invoicexpress.com:", 401),
    ("nobody.app.invoicexpress.com", 401),  # ...and one that does not: the same answer
    ("x.acme.app.invoicexpress.com", 401),
    ("app.invoicexpress.com", 200),  # the domain itself names nobody
    ("other.localhost:8000", 200),  # not under the domain: the key alone decides
    ("127.0.0.1:8000", 200),
    ("localhost", 200),
    ("[::1]:8000", 200),
    ("invx.example.com", 200),
])
def test_a_host_under_the_account_domain_names_the_account(
        client, key, make_account, settings, host, status):
    settings(account_domain="app.invoicexpress.com")
    make_account("other", fiscal_id="555555550")
    response = client.get(f"/sequences.json?api_key={key}", headers={"Host": host})
    assert response.status_code == status
    if status == 401:
        assert response.data == b""


@pytest.mark.parametrize("host", ["other.app.invoicexpress.com", "nobody.example.com"])
def test_without_an_account_domain_the_host_names_no_account(client, key, make_account, host):
    """Which account names exist cannot be learnt by trying hosts (issue 18)."""
    make_account("other", fiscal_id="555555550")
    assert client.get(f"/sequences.json?api_key={key}", headers={"Host": host}).status_code == 200


def test_the_account_domain_setting_is_checked():
    from invx.config import ConfigError, Settings
    assert Settings(account_domain="App.Example.COM.").account_domain == "app.example.com"
    with pytest.raises(ConfigError, match="INVX_ACCOUNT_DOMAIN"):
        Settings.from_environment({"INVX_ACCOUNT_DOMAIN": "not a domain"})


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


def test_the_key_gate_lets_real_keys_through_a_flood_of_made_up_ones(app, key, make_account):
    """Beyond its lookups per second, the gate answers from every stored digest (read at
    most every few seconds) instead of one query per made-up key (issue 18)."""
    from invx.auth import KeyGate
    now = [0.0]
    gate = KeyGate(lookups_per_second=2, snapshot_seconds=5, clock=lambda: now[0])
    with app.app_context():
        made_up = [f"made-up-key-{i:04d}-0123456789" for i in range(50)]
        assert not any(gate.known(k) for k in made_up)  # 2 lookups, then the snapshot
        assert gate.known(key)  # in the snapshot: let through during the flood
    newer = make_account("newer", fiscal_id="555555550")
    with app.app_context():
        assert not gate.known(newer)  # not in the snapshot yet, and no lookup left
        now[0] = 1.0  # a lookup again (2 a second)
        assert gate.known(newer)
        assert not gate.known("not a key")


def test_a_flood_of_made_up_keys_costs_no_query_each(app, key):
    from sqlalchemy import event

    from invx.auth import KeyGate
    from invx.extensions import db
    gate = KeyGate(lookups_per_second=1, clock=lambda: 0.0)
    statements = []

    def seen(_connection, _cursor, statement, *_):
        statements.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", seen)
        try:
            for i in range(100):
                assert not gate.known(f"made-up-key-{i:04d}-0123456789")
        finally:
            event.remove(db.engine, "before_cursor_execute", seen)
    assert len([s for s in statements if "accounts" in s]) == 2  # one lookup, one snapshot


@pytest.mark.parametrize("method, path", ENDPOINTS[1:2] + ENDPOINTS[3:])
# Arabic-Indic, fullwidth and superscript digits 0 to 9.
@pytest.mark.parametrize("digits", ["".join(chr(first + n) for n in range(10))
                                    for first in (0x660, 0xFF10)] + ["⁰¹²³⁴⁵⁶⁷⁸⁹"])
def test_an_id_in_other_digits_than_ascii_names_no_sequence(client, key, method, path, digits):
    """werkzeug's ``<int:>`` took any Unicode decimal digit as an id's."""
    sequence_id = str(create(client, key).get_json()["sequence"]["id"])
    written = sequence_id.translate(str.maketrans("0123456789", digits))
    response = getattr(client, method)(path.format(id=written) + f"?api_key={key}")
    assert response.status_code == 404
    assert response.data == b""
    ascii_response = getattr(client, method)(path.format(id=sequence_id) + f"?api_key={key}")
    assert ascii_response.status_code in (200, 409)
