"""The AT commands: set-tax-authority, sequences finish/annul, at-log."""
import json

import pytest
from sqlalchemy import select, text

from invx.extensions import db
from invx.models import Sequence

from ..support import at_keys
from ..support.cli import issue_numbers, set_at
from ..support.fake_at import PASSWORD, at_codes, at_states


def test_set_tax_authority_reads_the_password_from_standard_input_and_seals_it(
        app, invx, make_account, key_file, fake_at):
    make_account(tax_authority="none")
    result = set_at(invx, key_file, fake=fake_at)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["tax_authority"], payload["username"]) == ("at", "123456789/1")
    assert payload["endpoint"] == fake_at.url
    with app.app_context():
        row = db.session.execute(text("SELECT tax_authority_config FROM accounts")).scalar()
    assert PASSWORD not in str(row)
    assert "--password" not in invx("accounts", "set-tax-authority", "--help").output


@pytest.mark.parametrize("name, data", [
    ("pem-key", at_keys.public_pem()), ("pem-cert", at_keys.certificate_pem()),
    ("der-cert", at_keys.certificate_der())])
def test_ats_key_is_accepted_as_a_key_or_a_certificate(invx, make_account, tmp_path, fake_at,
                                                       name, data):
    make_account(tax_authority="none")
    path = tmp_path / name
    path.write_bytes(data)
    assert set_at(invx, path, fake=fake_at).exit_code == 0


@pytest.mark.parametrize("changes, message", [
    ({"endpoint": "http://at.example.pt/SeriesWSService"}, "loopback"),
    ({"username": "555555550/1"}, "must be the account's"),
    ({"username": "123456789"}, "NIF/SUB-USER"),
    ({"password": ""}, "password"),
    ({"endpoint": "test"}, "AT's endpoints take only mutual TLS"),
    ({"endpoint": "production"}, "--client-cert and --client-key"),
])
def test_bad_at_settings_are_refused_clearly(invx, make_account, key_file, fake_at, changes,
                                             message):
    make_account(tax_authority="none")
    result = set_at(invx, key_file, fake=fake_at, **changes)
    assert result.exit_code != 0
    assert message in result.output


def test_a_public_key_that_is_not_one_is_refused(invx, make_account, tmp_path, fake_at):
    make_account(tax_authority="none")
    path = tmp_path / "junk.pem"
    path.write_text("not a key")
    result = set_at(invx, path, fake=fake_at)
    assert result.exit_code != 0
    assert "--public-key" in result.output


def test_without_invx_secret_key_secrets_are_not_stored(app, invx, make_account, key_file,
                                                         fake_at, settings):
    make_account(tax_authority="none")
    settings(secret_key=None)
    result = set_at(invx, key_file, fake=fake_at)
    assert result.exit_code != 0
    assert "INVX_SECRET_KEY is not set" in result.output


def test_a_client_certificate_must_come_with_its_own_key(invx, make_account, key_file, tmp_path,
                                                         fake_at):
    make_account(tax_authority="none")
    (tmp_path / "c.pem").write_bytes(at_keys.certificate_pem("client"))
    (tmp_path / "k.pem").write_bytes(at_keys.private_pem("other"))
    (tmp_path / "good.pem").write_bytes(at_keys.private_pem("client"))
    result = set_at(invx, key_file, "--client-cert", str(tmp_path / "c.pem"), fake=fake_at)
    assert "go together" in result.output
    result = set_at(invx, key_file, "--client-cert", str(tmp_path / "c.pem"),
                    "--client-key", str(tmp_path / "k.pem"), fake=fake_at)
    assert "does not belong" in result.output
    result = set_at(invx, key_file, "--client-cert", str(tmp_path / "c.pem"),
                    "--client-key", str(tmp_path / "good.pem"), fake=fake_at)
    assert result.exit_code == 0
    assert json.loads(result.stdout)["client_certificate"] is True


def test_switching_back_to_sandbox_or_none_forgets_the_at_settings(app, invx, make_account,
                                                                   key_file, fake_at):
    make_account(tax_authority="none")
    set_at(invx, key_file, fake=fake_at)
    result = invx("accounts", "set-tax-authority", "acme", "--adapter", "sandbox")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tax_authority"] == "sandbox"
    with app.app_context():
        assert db.session.execute(text("SELECT tax_authority_config FROM accounts")).scalar() \
            is None
    result = invx("accounts", "set-tax-authority", "acme", "--adapter", "none",
                  "--username", "123456789/1")
    assert "--adapter at only" in result.output


def test_moving_from_the_sandbox_to_at_turns_sandbox_codes_into_real_ones(
        app, client, invx, make_account, key_file, fake_at):
    key = make_account(tax_authority="sandbox")
    sequence = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2026"}}).get_json()["sequence"]
    assert sequence["current_invoice_validation_code"].startswith("SBX")
    result = set_at(invx, key_file, fake=fake_at)
    assert json.loads(result.stdout)["sandbox_codes_reset"] == 11
    reset = client.get(f"/sequences/{sequence['id']}.json?api_key={key}").get_json()["sequence"]
    assert reset["current_invoice_validation_code"] == "N/D"
    response = client.put(f"/sequences/{sequence['id']}/register.json?api_key={key}")
    (registered,) = response.get_json()["sequences"]
    assert registered["current_invoice_validation_code"] == at_codes(fake_at)["FT"]


def test_back_on_the_sandbox_the_reset_types_are_registered_again(
        client, invx, make_account, key_file, fake_at):
    key = make_account(tax_authority="sandbox")
    sequence = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2026"}}).get_json()["sequence"]
    first = sequence["current_invoice_validation_code"]
    set_at(invx, key_file, fake=fake_at)
    result = invx("accounts", "set-tax-authority", "acme", "--adapter", "sandbox")
    assert result.exit_code == 0, result.output
    response = client.put(f"/sequences/{sequence['id']}/register.json?api_key={key}")
    assert response.status_code == 200, response.get_json()
    (registered,) = response.get_json()["sequences"]
    assert registered["current_invoice_validation_code"].startswith("SBX")
    assert registered["current_invoice_validation_code"] != first
    assert "N/D" not in registered.values()


def test_foreign_accounts_take_no_tax_authority(invx, make_account):
    make_account("shop-es", country="ES", fiscal_id="B12345678", tax_authority="none")
    result = invx("accounts", "set-tax-authority", "shop-es", "--adapter", "sandbox")
    assert result.exit_code != 0
    assert "Portuguese" in result.output


def test_finish_closes_the_used_types_at_their_last_number(app, invx, at_sequence, fake_at):
    issue_numbers(app, invoice=15, receipt=3)
    result = invx("sequences", "finish", "acme", "2026", "--justification", "fim do ano")
    assert result.exit_code == 0, result.output
    assert "finished at number 15" in result.output
    assert "unused: left active at AT" in result.output
    series = {s["tipoDoc"]: s for s in fake_at.fake.series()}
    assert (series["FT"]["estado"], series["FT"]["seqUltimoDocEmitido"]) == ("F", "15")
    assert (series["RG"]["estado"], series["RG"]["seqUltimoDocEmitido"]) == ("F", "3")
    assert series["FR"]["estado"] == "A"
    assert "already finished" in invx("sequences", "finish", "acme", "2026").output


def test_a_refused_finish_closes_to_new_documents_and_can_be_run_again(
        app, client, invx, at_sequence, fake_at):
    issue_numbers(app, invoice=1)  # AT wants the last number above the first
    result = invx("sequences", "finish", "acme", "2026")
    assert result.exit_code != 0
    assert "4047" in result.output
    assert "issues no more documents" in result.output
    issue_numbers(app, invoice=2)  # say the cause is fixed
    result = invx("sequences", "finish", "acme", "2026")
    assert result.exit_code == 0, result.output
    assert {s["tipoDoc"]: s["estado"] for s in fake_at.fake.series()}["FT"] == "F"


def test_annul_annuls_every_type_of_an_unused_sequence(app, invx, at_sequence, fake_at):
    result = invx("sequences", "annul", "acme", "2026")
    assert result.exit_code == 0, result.output
    assert set(at_states(fake_at).values()) == {"N"}
    header, *rows = result.output.splitlines()
    assert header.split() == ["TYPE", "AT", "OUTCOME"]
    assert len(rows) == 11 and all(row.endswith("annulled") for row in rows)


def test_annul_is_refused_once_documents_were_issued(app, invx, at_sequence, fake_at):
    issue_numbers(app, quote=2)
    result = invx("sequences", "annul", "acme", "2026")
    assert result.exit_code != 0
    assert "finish it instead" in result.output
    assert set(at_states(fake_at).values()) == {"A"}


def test_a_document_issued_while_annul_starts_stops_it_before_at_is_asked(
        app, client, invx, at_sequence, fake_at, monkeypatch):
    from invx.registration import lifecycle
    real = lifecycle.open_adapter

    def issue_first(account, settings):  # after the first check, before the lock
        issue_numbers(app, quote=1)
        return real(account, settings)

    monkeypatch.setattr(lifecycle, "open_adapter", issue_first)
    result = invx("sequences", "annul", "acme", "2026")
    assert result.exit_code != 0
    assert "documents were issued on quote" in result.output
    assert set(at_states(fake_at).values()) == {"A"}  # no type annulled at AT
    with app.app_context():
        assert db.session.scalar(select(Sequence.closed_as)) is None  # open, as it was


def test_lifecycle_of_an_unknown_sequence_fails_clearly(invx, at_sequence):
    result = invx("sequences", "finish", "acme", "2099")
    assert result.exit_code == 2 and "no sequence" in result.output
    assert invx("sequences", "annul", "nobody", "2026").exit_code == 2


def test_at_log_shows_every_call_newest_first_without_credentials(invx, at_sequence, fake_at):
    invx("sequences", "annul", "acme", "2026")
    table = invx("at-log", "acme")
    assert table.exit_code == 0
    header, *lines = table.output.splitlines()
    assert header.split() == ["AT", "OPERATION", "SERIE", "TYPE", "OUTCOME", "CODE", "MS",
                              "MESSAGE"]
    assert len(lines) == 22
    assert "anularSerie" in lines[0] and "registarSerie" in lines[-1]
    rows = [json.loads(line) for line in invx("at-log", "acme", "--json", "--limit", "5").output
            .splitlines()]
    assert len(rows) == 5
    assert all(row["operation"] == "anularSerie" and row["result_code"] == 2003 for row in rows)
    assert PASSWORD not in table.output
    unknown = invx("at-log", "nobody")
    assert unknown.exit_code == 2 and "no account" in unknown.output


@pytest.mark.parametrize("valid, message", [((-40, -1), "expired on"),
                                            ((10, 40), "valid only from")])
def test_a_client_certificate_out_of_its_validity_is_refused(invx, make_account, key_file,
                                                             tmp_path, valid, message):
    make_account(tax_authority="none")
    (tmp_path / "c.pem").write_bytes(at_keys.certificate_pem("client", valid))
    (tmp_path / "k.pem").write_bytes(at_keys.private_pem("client"))
    result = set_at(invx, key_file, "--client-cert", str(tmp_path / "c.pem"),
                    "--client-key", str(tmp_path / "k.pem"), endpoint="test")
    assert result.exit_code != 0
    assert message in result.output


def test_closing_with_a_tax_authority_that_cannot_be_used_says_why(app, invx, at_sequence):
    invx("accounts", "set-tax-authority", "acme", "--adapter", "none")
    result = invx("sequences", "finish", "acme", "2026")
    assert result.exit_code != 0
    assert "account acme has no Tax Authority configured" in result.output
    assert "Traceback" not in result.output
