"""AT's failures: the InvoiceXpress codes they answer, and the compensation that leaves
nothing behind at AT."""

import pytest
from sqlalchemy import func, select, text

from invx.extensions import db
from invx.models import AtCall
from invx.tax_authority.base import (
    AlreadyRegisteredError,
    AuthenticationError,
    InvalidRequestError,
    NoActivityError,
    TaxAuthorityError,
    UnavailableError,
)

from ..support.invoicexpress import create
from ..support.registration import (
    AT_TYPES,
    register,
    sandbox_rows,
    sandbox_states,
    unregister,
)
from ..support.scripted_at import ScriptedTaxAuthority, registrations

AT_FAILURES = [
    (AuthenticationError("Ocorreu um erro na autenticação dos contribuintes."),
     "004", "Invalid Tax Authority credentials."),
    (NoActivityError("O NIF não tem atividade aberta.", 4043),
     "005", "Account fiscal ID doesn't have open activity in Tax Authority."),
    (AlreadyRegisteredError("A série já se encontra registada.", 4001),
     "002", "Sequence already exists."),
    (InvalidRequestError("Erro de validação da estrutura XML.", 4000), "003", "Invalid sequence."),
    (InvalidRequestError("Campos obrigatórios em falta.", 4002), "003", "Invalid sequence."),
    (InvalidRequestError("Campos com erros.", 4003), "003", "Invalid sequence."),
    (InvalidRequestError("Data anterior a hoje.", 4049), "000", "Unknown error."),
    (UnavailableError("Erro Técnico Inespecífico", 5000), "000", "Unknown error."),
    (UnavailableError("timed out"), "000", "Unknown error."),
    (TaxAuthorityError("a fault"), "000", "Unknown error."),
]
AT_FAILURE_IDS = ["auth", "4043", "4001", "4000", "4002", "4003", "4049", "5000", "timeout",
                  "fault"]


@pytest.mark.parametrize("error, code, message", AT_FAILURES, ids=AT_FAILURE_IDS)
def test_tax_authority_failures_map_to_the_documented_codes_on_create(
        client, scripted, error, code, message):
    ScriptedTaxAuthority.failures = {"FT": error}
    response = create(client, scripted)
    assert response.status_code == 422
    assert response.get_json() == {"code": code, "message": message}


@pytest.mark.parametrize("error, code, message", AT_FAILURES, ids=AT_FAILURE_IDS)
def test_tax_authority_failures_are_wrapped_in_errors_on_register(
        app, client, scripted, error, code, message):
    sequence_id = create(client, scripted).get_json()["sequence"]["id"]
    unregister(app, sequence_id, "quote")
    ScriptedTaxAuthority.failures = {"OR": error}
    response = register(client, scripted, sequence_id)
    assert response.status_code == 422
    assert response.get_json() == {"errors": {"code": code, "message": message}}


def test_a_failure_of_every_type_creates_nothing_and_a_retry_succeeds(client, scripted):
    refusal = AuthenticationError("Ocorreu um erro na autenticação dos contribuintes.")
    ScriptedTaxAuthority.failures = dict.fromkeys(AT_TYPES, refusal)
    assert create(client, scripted).get_json()["code"] == "004"
    assert client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"] == []
    ScriptedTaxAuthority.failures = {}
    response = create(client, scripted)
    assert response.status_code == 201
    assert response.get_json()["sequence"]["default_sequence"] == 1


def test_failure_mid_way_annuls_what_was_registered_and_removes_the_sequence(
        app, client, scripted):
    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    response = create(client, scripted)
    assert response.get_json() == {"code": "000", "message": "Unknown error."}
    # Whatever this attempt registered (the types run concurrently) was annulled, reason ER.
    states = sandbox_states(app)
    assert "FT" in states and "NC" not in states
    assert set(states.values()) == {"N"}
    assert {c[1] for c in ScriptedTaxAuthority.calls if c[0] == "annul"} == set(states)
    assert client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"] == []
    # AT never accepts an annulled series again for that type: the name is spent.
    ScriptedTaxAuthority.failures = {}
    assert create(client, scripted).get_json()["code"] == "002"


def test_a_repeated_post_of_a_failed_serie_answers_002_without_calling_at(
        app, client, scripted):
    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    assert create(client, scripted, "A2026").get_json()["code"] == "000"
    ScriptedTaxAuthority.failures = {}
    calls, states, audited = list(ScriptedTaxAuthority.calls), sandbox_states(app), at_calls(app)
    for serie in ("A2026", "a2026"):  # names compare ignoring case
        response = create(client, scripted, serie)
        assert response.status_code == 422
        assert response.get_json() == {"code": "002", "message": "Sequence already exists."}
    # Answered from invx's records: AT was not asked, let alone changed.
    assert ScriptedTaxAuthority.calls == calls
    assert sandbox_states(app) == states
    assert at_calls(app) == audited
    assert client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"] == []


def at_calls(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AtCall))


def test_a_series_registered_but_unanswered_is_found_and_annulled_too(app, client, scripted):
    ScriptedTaxAuthority.lost_answers = {"FS"}
    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    assert create(client, scripted).get_json()["code"] == "000"
    assert ("query", "FS") in ScriptedTaxAuthority.calls
    assert sandbox_states(app)["FS"] == "N"  # AT had it: annulled with the others
    assert client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"] == []


def test_an_unresolved_outcome_keeps_the_sequence_and_register_adopts_the_code(
        app, client, scripted):
    ScriptedTaxAuthority.lost_answers = {"FS"}
    ScriptedTaxAuthority.query_failures = {"FS"}
    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    assert create(client, scripted).get_json()["code"] == "000"
    # invx cannot tell whether AT holds FS: the sequence stays, FS shows N/D.
    (kept,) = client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"]
    assert kept["current_simplified_invoice_validation_code"] == "N/D"
    at_code = next(r for r in sandbox_rows(app) if r.doc_type == "FS").validation_code

    ScriptedTaxAuthority.failures, ScriptedTaxAuthority.lost_answers = {}, set()
    ScriptedTaxAuthority.query_failures = set()
    ScriptedTaxAuthority.calls = []
    response = register(client, scripted, kept["id"])
    assert response.status_code == 200
    (sequence,) = response.get_json()["sequences"]
    assert sequence["current_simplified_invoice_validation_code"] == at_code  # adopted
    assert registrations("FS") == []  # asked AT, never sent it twice
    assert ("query", "FS") in ScriptedTaxAuthority.calls


def test_codes_that_cannot_be_annulled_are_kept_and_register_completes_the_rest(
        app, client, scripted, settings):
    settings(at_concurrency=1)  # FT, FR, FS, then NC fails
    ScriptedTaxAuthority.failures = {"NC": UnavailableError("Erro Técnico Inespecífico", 5000)}
    ScriptedTaxAuthority.annul_failures = {"FR"}
    assert create(client, scripted).get_json()["code"] == "000"
    sequences = client.get(f"/sequences.json?api_key={scripted}").get_json()["sequences"]
    assert len(sequences) == 1
    partial = sequences[0]
    assert partial["default_sequence"] == 1
    kept = partial["current_invoice_receipt_validation_code"]
    assert kept.startswith("SBX")
    assert partial["current_invoice_validation_code"] == "N/D"  # annulled
    assert partial["current_credit_note_validation_code"] == "N/D"  # failed
    assert partial["current_quote_validation_code"] == "N/D"  # never tried

    ScriptedTaxAuthority.failures = {}
    response = register(client, scripted, partial["id"])
    assert response.status_code == 200
    (completed,) = response.get_json()["sequences"]
    assert completed["id"] == partial["id"]
    assert completed["current_invoice_receipt_validation_code"] == kept
    assert completed["current_credit_note_validation_code"].startswith("SBX")
    assert completed["current_quote_validation_code"].startswith("SBX")
    # FT and FS were annulled at AT: they stay N/D, and nothing is left to register.
    assert completed["current_invoice_validation_code"] == "N/D"
    assert register(client, scripted, partial["id"]).get_json()["errors"]["code"] == "007"


def test_register_fills_only_the_missing_types(app, client, scripted):
    created = create(client, scripted).get_json()["sequence"]
    unregister(app, created["id"], "shipping", "quote")
    ScriptedTaxAuthority.calls = []
    response = register(client, scripted, created["id"])
    assert response.status_code == 200
    (sequence,) = response.get_json()["sequences"]
    # The two run concurrently: in either order.
    assert sorted(ScriptedTaxAuthority.calls) == [("register", "GR"), ("register", "OR")]
    assert sequence["current_invoice_validation_code"] == created["current_invoice_validation_code"]
    assert sequence["current_quote_validation_code"] not in ("N/D", "N/A")


def test_register_on_a_portuguese_account_without_credentials_is_004(
        app, client, make_account):
    key = make_account("acme-none", tax_authority="sandbox")
    sequence_id = create(client, key).get_json()["sequence"]["id"]
    unregister(app, sequence_id, "quote")
    with app.app_context():
        db.session.execute(text("UPDATE accounts SET tax_authority = 'none'"))
        db.session.commit()
    response = register(client, key, sequence_id)
    assert response.status_code == 422
    assert response.get_json() == {
        "errors": {"code": "004", "message": "Invalid Tax Authority credentials."}}
