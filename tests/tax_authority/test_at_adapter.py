"""The AT adapter alone: envelopes, the security header, parsing, errors (HTTP mocked)."""
import base64
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
import responses
from cryptography.hazmat.primitives.asymmetric import padding

from invx.tax_authority import soap, wss
from invx.tax_authority.at_soap import ENDPOINTS
from invx.tax_authority.base import (
    AlreadyRegisteredError,
    AuthenticationError,
    InvalidRequestError,
    NoActivityError,
    OperationRefusedError,
    TaxAuthorityError,
    UnavailableError,
)

from ..support import at_keys
from ..support.at_service import PASSWORD, adapter, registration

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "reference" / "at-responses"
URL = ENDPOINTS["test"]
def sample(name):
    """A real AT response, from shared/ beside the repository (where CI puts it)."""
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"needs the real AT responses in {SAMPLES}, which CI places beside the "
                    "repository")
    return path.read_bytes()


def sent(index=0):
    return responses.calls[index].request


@responses.activate
def test_register_sends_the_envelope_exactly_as_at_specifies():
    responses.post(URL, body=sample("RegisterResponse.xml"), content_type="text/xml")
    adapter().register_series(registration())
    request = sent()
    assert request.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert request.headers["SOAPAction"] == '""'
    body = request.body.decode("ascii")
    assert '<ns0:registarSerie xmlns:ns0="http://at.gov.pt/">' in body
    children = re.search(r"<ns0:registarSerie[^>]*>(.*)</ns0:registarSerie>", body).group(1)
    assert re.findall(r"<(\w+)>", children) == [
        "serie", "tipoSerie", "classeDoc", "tipoDoc", "numInicialSeq", "dataInicioPrevUtiliz",
        "numCertSWFatur", "meioProcessamento"]
    assert "<serie>A2025</serie><tipoSerie>N</tipoSerie><classeDoc>SI</classeDoc>" in children
    assert "<dataInicioPrevUtiliz>2025-01-02</dataInicioPrevUtiliz>" in children
    assert "<numCertSWFatur>0</numCertSWFatur><meioProcessamento>PI</meioProcessamento>" in children
    assert '<wss:Security xmlns:wss="http://schemas.xmlsoap.org/ws/2002/12/secext">' in body


@responses.activate
def test_the_security_header_decrypts_with_ats_private_key():
    responses.post(URL, body=sample("RegisterResponse.xml"))
    before = datetime.now(UTC)
    adapter().register_series(registration())
    _, _, token = soap.parse_request(sent().body)
    assert token["Username"] == "555555550/1"
    key = at_keys.private_key().decrypt(base64.b64decode(token["Nonce"]), padding.PKCS1v15())
    assert len(key) == 16
    assert wss.aes_decrypt(key, base64.b64decode(token["Password"])).decode() == PASSWORD
    created = wss.aes_decrypt(key, base64.b64decode(token["Created"])).decode()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created)
    moment = datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - timedelta(seconds=1) <= moment <= datetime.now(UTC) + timedelta(seconds=1)
    assert PASSWORD.encode() not in sent().body


@responses.activate
def test_every_request_has_a_fresh_symmetric_key():
    responses.post(URL, body=sample("RegisterResponse.xml"))
    service = adapter()
    service.register_series(registration())
    service.register_series(registration())
    keys = [at_keys.private_key().decrypt(
        base64.b64decode(soap.parse_request(call.request.body)[2]["Nonce"]), padding.PKCS1v15())
        for call in responses.calls]
    assert keys[0] != keys[1]


@responses.activate
def test_one_session_serves_every_call_with_timeouts():
    responses.post(URL, body=sample("RegisterResponse.xml"))
    service = adapter()
    assert service.timeout == (2.0, 3.0)
    assert service.session.trust_env is False
    service.register_series(registration())
    assert responses.calls[0].request.req_kwargs["timeout"] == (2.0, 3.0)


@responses.activate
def test_a_real_success_response_is_read_into_series_info():
    responses.post(URL, body=sample("RegisterResponse.xml"))
    info = adapter().register_series(registration())
    assert (info.serie, info.doc_class, info.doc_type) == ("2511232477", "SI", "FT")
    assert info.validation_code == "AAJFF5JWJN"  # 10 characters: never assume 8
    assert (info.first_number, info.state, info.software_certificate) == (999, "A", 9999)
    assert info.start_date == date(2022, 4, 1) and info.registered_on == date(2022, 2, 1)
    assert info.communicated_by == "555555550"


@responses.activate
def test_responses_are_read_whatever_their_prefixes():
    text = sample("RegisterResponse.xml").decode()
    text = text.replace("S:", "soapenv:").replace("xmlns:S=", "xmlns:soapenv=")
    text = text.replace("ns0:", "ns2:").replace("xmlns:ns0=", "xmlns:ns2=")
    responses.post(URL, body=text)
    assert adapter().register_series(registration()).validation_code == "AAJFF5JWJN"


@responses.activate
def test_query_returns_every_series_at_holds():
    info = {"serie": "A2025", "tipoSerie": "N", "classeDoc": "SI", "tipoDoc": "FT",
            "numInicialSeq": "1", "dataInicioPrevUtiliz": "2025-01-02",
            "meioProcessamento": "PI", "numCertSWFatur": "0", "codValidacaoSerie": "BCDF2345",
            "dataRegisto": "2025-01-02", "estado": "A", "dataEstado": "2025-01-02T10:00:00Z",
            "nifComunicou": "555555550"}
    responses.post(URL, body=soap.build_response("consultarSeries", [info, {
        **info, "tipoDoc": "FR", "codValidacaoSerie": "GHJK6789"}], 2002, "OK"))
    found = adapter().query_series("A2025", "SI")
    assert [i.validation_code for i in found] == ["BCDF2345", "GHJK6789"]
    _, fields, _ = soap.parse_request(sent().body)
    assert fields == {"serie": "A2025", "classeDoc": "SI"}


@responses.activate
def test_annul_and_finish_send_their_fields_in_schema_order():
    done = {"serie": "A2025", "classeDoc": "SI", "tipoDoc": "FT", "codValidacaoSerie": "X",
            "estado": "N"}
    responses.post(URL, body=soap.build_response("anularSerie", [done], 2003, "Anulada"))
    adapter().annul_series("A2025", "SI", "FT", "BCDF2345")
    body = sent().body.decode()
    assert ("<serie>A2025</serie><classeDoc>SI</classeDoc><tipoDoc>FT</tipoDoc>"
            "<codValidacaoSerie>BCDF2345</codValidacaoSerie><motivo>ER</motivo>"
            "<declaracaoNaoEmissao>true</declaracaoNaoEmissao>") in body
    responses.replace(responses.POST, URL, body=soap.build_response(
        "finalizarSerie", [{**done, "estado": "F"}], 2004, "Finalizada"))
    assert adapter().finish_series("A2025", "SI", "FT", "BCDF2345", 15, "fim").state == "F"
    body = sent(1).body.decode()
    assert ("<codValidacaoSerie>BCDF2345</codValidacaoSerie>"
            "<seqUltimoDocEmitido>15</seqUltimoDocEmitido>"
            "<justificacao>fim</justificacao>") in body


@responses.activate
def test_the_real_5000_response_is_unavailable_with_ats_message():
    responses.post(URL, body=sample("ErrorResponse.xml"))
    with pytest.raises(UnavailableError) as caught:
        adapter().register_series(registration())
    assert caught.value.code == 5000
    assert caught.value.message == "Erro Técnico Inespecífico"
    assert not caught.value.outcome_unknown


@responses.activate
def test_the_real_fault_is_unavailable_with_an_unknown_outcome():
    responses.post(URL, body=sample("FaultResponse.xml"), status=500)
    with pytest.raises(UnavailableError) as caught:
        adapter().register_series(registration())
    assert "The fault" in caught.value.message
    assert caught.value.outcome_unknown


@responses.activate
def test_an_authentication_fault_is_an_authentication_error():
    responses.post(URL, status=500, body=soap.build_fault(
        "S:Client.Authentication", "Ocorreu um erro na autenticação dos contribuintes.", "99"))
    with pytest.raises(AuthenticationError) as caught:
        adapter().register_series(registration())
    assert "autenticação" in caught.value.message


@pytest.mark.parametrize("code, kind", [
    (4001, AlreadyRegisteredError), (4043, NoActivityError), (4000, InvalidRequestError),
    (4002, InvalidRequestError), (4003, InvalidRequestError), (4045, InvalidRequestError),
    (4046, InvalidRequestError), (4049, InvalidRequestError), (4004, OperationRefusedError),
    (4005, OperationRefusedError), (4047, OperationRefusedError), (4051, OperationRefusedError),
    (5000, UnavailableError), (4999, TaxAuthorityError),
])
@responses.activate
def test_result_codes_become_typed_errors_with_ats_message(code, kind):
    responses.post(URL, body=soap.build_response("registarSerie", [], code, f"mensagem {code}"))
    with pytest.raises(kind) as caught:
        adapter().register_series(registration())
    assert type(caught.value) is kind
    assert (caught.value.code, caught.value.message) == (code, f"mensagem {code}")


@pytest.mark.parametrize("failure, unknown", [
    (requests.ConnectTimeout(), False),
    (requests.ReadTimeout(), True),
    (requests.ConnectionError("reset"), True),
])
@responses.activate
def test_timeouts_and_dropped_connections_are_unavailable(failure, unknown):
    responses.post(URL, body=failure)
    with pytest.raises(UnavailableError) as caught:
        adapter().register_series(registration())
    assert caught.value.code is None
    assert caught.value.outcome_unknown is unknown


@pytest.mark.parametrize("status, body", [
    (502, "<html><body>Bad Gateway</body></html>"), (200, ""), (200, "not xml at all"),
    (200, '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>'),
    (200, '<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
          '<ns0:anularSerieResponse xmlns:ns0="http://at.gov.pt/"/></S:Body></S:Envelope>'),
], ids=["html-502", "empty", "text", "entities", "wrong-operation"])
@responses.activate
def test_unreadable_answers_are_unavailable(status, body):
    responses.post(URL, status=status, body=body)
    with pytest.raises(UnavailableError) as caught:
        adapter().register_series(registration())
    assert caught.value.outcome_unknown
