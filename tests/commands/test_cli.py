"""The ``invx`` command: accounts, keys, the demo account."""
import hashlib
import json
import re

import pytest
from sqlalchemy import select, text

from invx.extensions import db
from invx.models import Account


def create(invx, name="acme", *extra, country="PT", fiscal_id="123456789"):
    return invx("accounts", "create", name, "--country", country, "--fiscal-id", fiscal_id,
                *extra)


def test_create_prints_one_json_object_with_a_fresh_40_hex_key(invx):
    result = create(invx)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["name"] == "acme"
    assert payload["country"] == "PT"
    assert payload["tax_authority"] == "none"
    assert re.fullmatch(r"[0-9a-f]{40}", payload["api_key"])


def test_two_accounts_get_different_keys(invx):
    first = json.loads(create(invx, "one").stdout)["api_key"]
    second = json.loads(create(invx, "two").stdout)["api_key"]
    assert first != second


@pytest.mark.parametrize("api_key", [
    "0123456789abcdef",                       # 16: the shortest
    "k" * 128,                                # 128: the longest
    "Ab3$%&'()*+,-./:;<=>?@[]^_`{|}~!\"#\\x",  # every kind of printable ASCII
    "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0",  # InvoiceXpress's shape
])
def test_an_existing_key_of_any_printable_shape_is_kept(invx, client, api_key):
    result = create(invx, "acme", "--api-key", api_key)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["api_key"] == api_key
    response = client.get("/sequences.json", query_string={"api_key": api_key})
    assert response.status_code == 200


@pytest.mark.parametrize("api_key", [
    "0123456789abcde", "k" * 129, "with a space 0123456", "tab\tinside0123456",
    "acentuação0123456789", "",
], ids=["15-chars", "129-chars", "space", "tab", "non-ascii", "empty"])
def test_a_key_outside_16_to_128_printable_ascii_is_refused(invx, api_key):
    result = create(invx, "acme", "--api-key", api_key)
    assert result.exit_code != 0
    assert "16 to 128 printable ASCII" in result.output


def test_keys_are_stored_hashed_never_in_clear(app, invx):
    api_key = "my-secret-key-0123456789"
    create(invx, "acme", "--api-key", api_key)
    with app.app_context():
        row = db.session.execute(text("SELECT * FROM accounts")).mappings().one()
    assert api_key not in json.dumps({k: str(v) for k, v in row.items()})
    assert re.fullmatch(r"h1\$[0-9a-f]{8}\$[0-9a-f]{64}", row["api_key_hash"])  # names its key
    # Keyed with INVX_SECRET_KEY: the key's plain SHA-256 (what a dump could be tried
    # against) is not what is stored.
    assert hashlib.sha256(api_key.encode()).hexdigest() not in row["api_key_hash"]


def test_a_duplicate_name_is_a_clear_error(invx):
    assert create(invx, "acme").exit_code == 0
    result = create(invx, "ACME")
    assert result.exit_code != 0
    assert "already exists" in result.output


def test_a_duplicate_key_is_a_clear_error(invx):
    assert create(invx, "one", "--api-key", "shared-key-0123456789").exit_code == 0
    result = create(invx, "two", "--api-key", "shared-key-0123456789")
    assert result.exit_code != 0
    assert "already in use" in result.output


@pytest.mark.parametrize("country, fiscal_id, message", [
    ("XX", "123456789", "ISO 3166-1"),
    ("PRT", "123456789", "ISO 3166-1"),
    ("PT", "123456788", "check digit"),
    ("PT", "12345678", "check digit"),
    ("PT", "PT123456789", "check digit"),
    ("ES", "has space", "fiscal id"),
])
def test_country_and_fiscal_id_are_validated(invx, country, fiscal_id, message):
    result = create(invx, "acme", country=country, fiscal_id=fiscal_id)
    assert result.exit_code != 0
    assert message in result.output


@pytest.mark.parametrize("name", ["Bad Name", "-acme", "acme-", "a" * 64, "acme.pt", ""])
def test_account_names_are_host_labels(invx, name):
    result = create(invx, name)
    assert result.exit_code != 0


def test_country_is_case_insensitive(invx):
    result = create(invx, "acme", country="pt")
    assert json.loads(result.stdout)["country"] == "PT"


def test_sandbox_output_warns_that_its_codes_are_not_real(invx):
    result = create(invx, "acme", "--tax-authority", "sandbox")
    payload = json.loads(result.stdout)
    assert payload["tax_authority"] == "sandbox"
    assert "NOT registered with AT" in payload["notice"]


def test_tax_authority_is_only_for_portuguese_accounts(invx):
    result = create(invx, "acme", "--tax-authority", "sandbox", country="ES", fiscal_id="B1234567")
    assert result.exit_code != 0
    assert "Portuguese" in result.output


def test_unknown_tax_authority_is_refused(invx):
    assert create(invx, "acme", "--tax-authority", "bogus").exit_code != 0


def test_list_shows_accounts_without_keys(invx, client):
    assert invx("accounts", "list").output.startswith("no accounts yet")
    assert invx("accounts", "list", "--json").output == ""
    key = json.loads(create(invx, "acme", "--tax-authority", "sandbox").stdout)["api_key"]
    create(invx, "beta", country="ES", fiscal_id="B12345678")
    client.post(f"/sequences.json?api_key={key}", json={"sequence": {"serie": "A"}})
    table = invx("accounts", "list")
    assert table.exit_code == 0
    header, *rows = table.output.splitlines()
    assert header.split() == ["NAME", "COUNTRY", "FISCAL", "ID", "TAX", "AUTHORITY", "SEQUENCES"]
    assert [row.split()[0] for row in rows] == ["acme", "beta"]
    assert key not in table.output
    rows = [json.loads(line) for line in invx("accounts", "list", "--json").stdout.splitlines()]
    assert [(r["name"], r["sequences"]) for r in rows] == [("acme", 1), ("beta", 0)]
    assert all("api_key" not in r for r in rows)


def test_rotate_key_prints_a_new_key_and_the_old_one_stops_working(invx, client):
    old = json.loads(create(invx).stdout)["api_key"]
    result = invx("accounts", "rotate-key", "acme")
    assert result.exit_code == 0
    new = json.loads(result.stdout)["api_key"]
    assert new != old
    assert client.get(f"/sequences.json?api_key={old}").status_code == 401
    assert client.get(f"/sequences.json?api_key={new}").status_code == 200


def test_rotate_key_can_set_a_given_key(invx, client):
    create(invx)
    result = invx("accounts", "rotate-key", "acme", "--api-key", "chosen-key-0123456789")
    assert json.loads(result.stdout)["api_key"] == "chosen-key-0123456789"
    assert client.get("/sequences.json?api_key=chosen-key-0123456789").status_code == 200


def test_rotate_key_of_an_unknown_account_fails(invx):
    result = invx("accounts", "rotate-key", "nobody")
    assert result.exit_code == 2
    assert "no account" in result.output


def test_demo_creates_a_portuguese_sandbox_account_and_keeps_its_key(app, invx, client):
    first = invx("demo", "--port", "8123")
    assert first.exit_code == 0, first.output
    key = re.search(r"API key: (\S+)", first.output).group(1)
    assert "http://127.0.0.1:8123/sequences.json?api_key=" + key in first.output
    assert "NOT registered with AT" in first.output
    with app.app_context():
        account = db.session.scalar(select(Account).where(Account.name == "demo"))
        assert (account.country, account.tax_authority) == ("PT", "sandbox")
    second = invx("demo")
    assert re.search(r"API key: (\S+)", second.output).group(1) == key


def test_demo_curl_example_creates_a_sequence_each_time(invx, client):
    for expected in ("DEMO", "DEMO-2"):  # not the README's series: both can be run
        output = invx("demo").output
        key = re.search(r"API key: (\S+)", output).group(1)
        body = json.loads(re.search(r"-d '(.+)'", output).group(1))
        assert body["sequence"]["serie"] == expected
        response = client.post(f"/sequences.json?api_key={key}", json=body)
        assert response.status_code == 201


def test_demo_recovers_when_its_key_file_is_lost(app, invx, client):
    import os
    first_key = re.search(r"API key: (\S+)", invx("demo").output).group(1)
    os.remove(os.path.join(app.instance_path, "demo-api-key"))
    second_key = re.search(r"API key: (\S+)", invx("demo").output).group(1)
    assert second_key != first_key
    assert client.get(f"/sequences.json?api_key={second_key}").status_code == 200


def test_an_unmigrated_database_is_a_clear_error_not_a_traceback(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from invx.commands import main
    monkeypatch.setenv("INVX_DATABASE_URL", f"sqlite:///{tmp_path}/empty.sqlite3")
    result = CliRunner().invoke(main, ["accounts", "list"])
    assert result.exit_code == 1
    assert "invx db upgrade" in result.output
    assert "Traceback" not in result.output


def test_an_unreachable_database_error_hides_the_password(monkeypatch):
    from click.testing import CliRunner

    from invx.commands import main
    monkeypatch.setenv("INVX_DATABASE_URL", "postgresql://invx:hunter2@127.0.0.1:1/invx")
    result = CliRunner().invoke(main, ["accounts", "create", "acme", "--country", "PT",
                                       "--fiscal-id", "123456789"])
    assert result.exit_code == 1
    assert "hunter2" not in result.output
    assert "cannot connect to the database" in result.output  # the start-up check
    assert result.output.count("\n") == 1 and "start PostgreSQL" in result.output
