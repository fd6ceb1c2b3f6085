"""The fake AT series service: AT's envelopes, security, rules, state machine, failure
injection, control endpoints and command, over real HTTP on 127.0.0.1."""
import os
import stat
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from defusedxml import ElementTree

from invx.fiscal import VALIDATION_CODE_ALPHABET, today_in_portugal
from invx.tax_authority import soap, wss
from invx.tax_authority.fake_at import (
    FakeAT,
    generate_key,
    load_or_create_key,
    start_in_thread,
)

from .conftest import free_port

# Real AT responses, kept beside the repository (shared/reference) rather than inside it.
REGISTER_SAMPLE = (Path(__file__).resolve().parents[2] / "shared" / "reference" /
                   "at-responses" / "RegisterResponse.xml")

USER, PASSWORD, NIF = "123456789/1", "fake-at-password", "123456789"
OTHER_USER, OTHER_PASSWORD, OTHER_NIF = "555555550/2", "other-password", "555555550"
AUTH_FAULTSTRING = "Ocorreu um erro na autenticação dos contribuintes."


@pytest.fixture(scope="module")
def private_key():
    return generate_key()  # once: RSA key generation is the slow part


@pytest.fixture
def server(private_key):
    server = start_in_thread(private_key=private_key,
                             users={USER: PASSWORD, OTHER_USER: OTHER_PASSWORD})
    yield server
    server.stop()


@pytest.fixture
def public_key(server):
    return wss.load_public_key(server.public_key_pem.encode())


@pytest.fixture
def post(server, public_key):
    """Post one operation, with a fresh token unless ``security`` is given; the Response."""

    def send(operation, fields, user=USER, password=PASSWORD, security=..., now=None):
        if security is ...:
            security = wss.security_token(public_key, user, password, now=now)
        body = soap.build_request(operation, fields, security)
        return requests.post(server.url, data=body, timeout=5,
                             headers={"Content-Type": "text/xml; charset=utf-8",
                                      "SOAPAction": '""'})

    return send


@pytest.fixture
def call(post):
    """AT's parsed answer: (infoSerie list, code, message); raises soap.SoapFault."""

    def send(operation, fields, **kwargs):
        response = post(operation, fields, **kwargs)
        return soap.parse_response(response.content, operation)

    return send


def registration(serie="A2026", doc_type="FT", doc_class="SI", **changes):
    fields = {"serie": serie, "tipoSerie": "N", "classeDoc": doc_class, "tipoDoc": doc_type,
              "numInicialSeq": 1, "dataInicioPrevUtiliz": today_in_portugal().isoformat(),
              "numCertSWFatur": 0, "meioProcessamento": "PI"}
    fields.update(changes)
    return fields


def register(call, serie="A2026", doc_type="FT", doc_class="SI", **kwargs):
    infos, code, message = call("registarSerie", registration(serie, doc_type, doc_class),
                                **kwargs)
    assert code == 2001, message
    return infos[0]


def annul(call, info, **changes):
    fields = {"serie": info["serie"], "classeDoc": info["classeDoc"],
              "tipoDoc": info["tipoDoc"], "codValidacaoSerie": info["codValidacaoSerie"],
              "motivo": "ER", "declaracaoNaoEmissao": "true", **changes}
    return call("anularSerie", fields)


def finish(call, info, last=10, **changes):
    fields = {"serie": info["serie"], "classeDoc": info["classeDoc"],
              "tipoDoc": info["tipoDoc"], "codValidacaoSerie": info["codValidacaoSerie"],
              "seqUltimoDocEmitido": last, **changes}
    return call("finalizarSerie", fields)


def control(server, name, payload=None):
    url = f"{server.base_url}/_fake/{name}"
    if payload is None and name in ("calls", "series", "behaviour", "public-key"):
        return requests.get(url, timeout=5)
    return requests.post(url, json=payload or {}, timeout=5)


def body_outline(data):
    """The Body's element names, in document order, with their depth."""
    root = ElementTree.fromstring(data)
    body = next(child for child in root if child.tag == f"{{{soap.SOAP_ENV}}}Body")

    def walk(element, depth):
        yield depth, element.tag
        for child in element:
            yield from walk(child, depth + 1)

    return list(walk(body, 0))


# --- successes and shapes ------------------------------------------------------------------


@pytest.mark.skipif(not REGISTER_SAMPLE.exists(), reason=f"no {REGISTER_SAMPLE}")
def test_register_response_has_the_elements_of_a_real_at_response_in_order(post):
    response = post("registarSerie", registration())
    assert body_outline(response.content) == body_outline(REGISTER_SAMPLE.read_bytes())


def test_register_answers_2001_with_a_fresh_active_series(post):
    response = post("registarSerie", registration())
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    infos, code, message = soap.parse_response(response.content, "registarSerie")
    info = infos[0]
    assert code == 2001
    assert len(info["codValidacaoSerie"]) == 10
    assert set(info["codValidacaoSerie"]) <= set(VALIDATION_CODE_ALPHABET)
    assert message == ("Série registada com sucesso. A situação ficou ativa e foi atribuído o "
                       f"seguinte código de validação : {info['codValidacaoSerie']}")
    assert info["estado"] == "A"
    assert info["dataRegisto"] == today_in_portugal().isoformat()
    stamp = datetime.strptime(info["dataEstado"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(datetime.now(UTC) - stamp) < timedelta(seconds=5)
    assert info["nifComunicou"] == NIF
    assert b"&#233;" in response.content  # non-ASCII as character references, as AT writes


def test_query_answers_2002_with_this_nifs_series_filtered(call):
    ft = register(call, "A2026", "FT")
    register(call, "A2026", "NC")
    register(call, "B2026", "FT")
    infos, code, _ = call("consultarSeries", {})
    assert code == 2002
    assert len(infos) == 3
    infos, _, _ = call("consultarSeries", {"serie": "a2026", "tipoDoc": "FT"})
    assert infos == [ft]
    infos, _, _ = call("consultarSeries", {"codValidacaoSerie": ft["codValidacaoSerie"]})
    assert [i["tipoDoc"] for i in infos] == ["FT"]
    today = today_in_portugal()
    infos, _, _ = call("consultarSeries", {"dataRegistoDe": today.isoformat(),
                                           "dataRegistoAte": today.isoformat(),
                                           "estado": "A", "classeDoc": "SI"})
    assert len(infos) == 3
    tomorrow = (today + timedelta(days=1)).isoformat()
    assert call("consultarSeries", {"dataRegistoDe": tomorrow})[:2] == ([], 2002)


def test_query_with_nothing_registered_is_2002_and_empty(call):
    assert call("consultarSeries", {"serie": "NOPE"})[:2] == ([], 2002)


def test_annul_answers_2003_and_the_series_becomes_n_with_reason_er(call, server):
    info = register(call)
    infos, code, _ = annul(call, info)
    assert code == 2003
    assert infos[0]["estado"] == "N"
    assert infos[0]["motivoEstado"] == "ER"
    assert infos[0]["codValidacaoSerie"] == info["codValidacaoSerie"]
    assert server.fake.series()[0]["estado"] == "N"


def test_finish_answers_2004_and_keeps_the_last_number_and_justification(call):
    info = register(call)
    infos, code, _ = finish(call, info, last=42, justificacao="Fim do ano")
    assert code == 2004
    assert infos[0]["estado"] == "F"
    assert infos[0]["seqUltimoDocEmitido"] == "42"
    assert infos[0]["justificacao"] == "Fim do ano"
    assert call("consultarSeries", {"serie": info["serie"]})[0] == infos


def test_keep_alive_serves_several_requests_on_one_connection(server, public_key):
    with requests.Session() as session:
        for serie in ("K1", "K2"):
            token = wss.security_token(public_key, USER, PASSWORD)
            response = session.post(
                server.url, data=soap.build_request("registarSerie", registration(serie),
                                                    token), timeout=5)
            assert response.status_code == 200
            assert response.headers.get("Connection", "").lower() != "close"


# --- result codes --------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "code"), [
    ({"meioProcessamento": None}, 4002),
    ({"serie": ""}, 4002),
    ({"serie": "A 2026"}, 4003),
    ({"serie": "A" * 36}, 4003),
    ({"serie": "-A2026"}, 4003),
    ({"tipoSerie": "X"}, 4003),
    ({"numInicialSeq": 0}, 4003),
    ({"numInicialSeq": "1.5"}, 4003),
    ({"numCertSWFatur": 10000}, 4003),
    ({"meioProcessamento": "XX"}, 4003),
    ({"dataInicioPrevUtiliz": "2030/01/01"}, 4003),
    ({"dataInicioPrevUtiliz": "20300101"}, 4003),
    ({"classeDoc": "XX"}, 4045),
    ({"classeDoc": "MG", "tipoDoc": "FT"}, 4046),
    ({"dataInicioPrevUtiliz": (today_in_portugal() - timedelta(days=1)).isoformat()}, 4049),
], ids=["missing", "empty", "space", "too-long", "leading-separator", "tipoSerie",
        "numInicialSeq-0", "numInicialSeq-decimal", "numCertSWFatur", "meioProcessamento",
        "date-slashes", "date-compact", "class", "type-of-class", "yesterday"])
def test_register_refusals(call, server, changes, code):
    infos, answered, message = call("registarSerie", registration(**changes))
    assert (infos, answered) == ([], code)
    assert message
    assert server.fake.series() == []


def test_register_for_a_nif_without_activity_is_4043(call, server):
    server.fake.configure(no_activity=[NIF])
    assert call("registarSerie", registration())[:2] == ([], 4043)
    assert register(call, user=OTHER_USER, password=OTHER_PASSWORD)["estado"] == "A"


def test_register_accepts_a_future_start_and_every_class(call):
    later = (today_in_portugal() + timedelta(days=30)).isoformat()
    for doc_class, doc_type in (("SI", "FR"), ("MG", "GT"), ("WD", "OR"), ("PY", "RG")):
        _, code, message = call("registarSerie", registration(
            doc_class=doc_class, doc_type=doc_type, dataInicioPrevUtiliz=later))
        assert code == 2001, message


def test_query_with_an_end_date_before_the_start_is_4048(call):
    assert call("consultarSeries", {"dataRegistoDe": "2026-02-01",
                                    "dataRegistoAte": "2026-01-31"})[:2] == ([], 4048)


def test_annul_with_another_reason_is_4051(call):
    info = register(call)
    assert annul(call, info, motivo="XX")[:2] == ([], 4051)


@pytest.mark.parametrize("changes", [
    {"serie": "UNKNOWN"}, {"tipoDoc": "FS"}, {"codValidacaoSerie": "BBBBBBBBBB"},
    {"declaracaoNaoEmissao": "false"},
], ids=["unknown-serie", "other-type", "code-mismatch", "no-declaration"])
def test_annul_refusals_are_4004(call, server, changes):
    info = register(call)
    assert annul(call, info, **changes)[:2] == ([], 4004)
    assert server.fake.series()[0]["estado"] == "A"


@pytest.mark.parametrize("changes", [
    {"serie": "UNKNOWN"}, {"codValidacaoSerie": "BBBBBBBBBB"},
], ids=["unknown-serie", "code-mismatch"])
def test_finish_refusals_are_4005(call, changes):
    info = register(call)
    assert finish(call, info, **changes)[:2] == ([], 4005)


@pytest.mark.parametrize("last", [1, 0, "x"])
def test_finish_needs_a_last_number_above_the_initial_one_else_4047(call, server, last):
    info = register(call)
    assert finish(call, info, last=last)[:2] == ([], 4047)
    assert server.fake.series()[0]["estado"] == "A"


# --- state machine -------------------------------------------------------------------------


def test_annul_after_finish_is_4004(call):
    info = register(call)
    assert finish(call, info)[1] == 2004
    assert annul(call, info)[:2] == ([], 4004)


def test_finish_after_annul_is_4005(call):
    info = register(call)
    assert annul(call, info)[1] == 2003
    assert finish(call, info)[:2] == ([], 4005)


def test_annul_twice_is_4004(call):
    info = register(call)
    assert annul(call, info)[1] == 2003
    assert annul(call, info)[:2] == ([], 4004)


@pytest.mark.parametrize("state", ["A", "N", "F"])
@pytest.mark.parametrize("again", ["A2026", "a2026"])
def test_registering_again_is_4001_in_any_state_and_any_case(call, state, again):
    info = register(call, "A2026")
    if state == "N":
        annul(call, info)
    elif state == "F":
        finish(call, info)
    assert call("registarSerie", registration(again))[:2] == ([], 4001)


def test_same_serie_for_another_type_is_a_different_series(call):
    ft = register(call, "A2026", "FT")
    fs = register(call, "A2026", "FS")
    assert ft["codValidacaoSerie"] != fs["codValidacaoSerie"]


def test_annul_and_finish_accept_any_case_of_the_serie(call):
    info = register(call, "Ab2026")
    assert finish(call, info | {"serie": "AB2026"})[1] == 2004


def test_concurrent_registrations_of_one_series_register_it_once(server, public_key):
    tokens = [wss.security_token(public_key, USER, PASSWORD) for _ in range(8)]
    codes = []

    def send(token):
        body = soap.build_request("registarSerie", registration(), token)
        codes.append(soap.parse_response(
            requests.post(server.url, data=body, timeout=5).content, "registarSerie")[1])

    threads = [threading.Thread(target=send, args=(t,)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(codes) == [2001] + [4001] * 7
    assert len(server.fake.series()) == 1


# --- per-NIF isolation ---------------------------------------------------------------------


def test_series_belong_to_the_nif_of_the_username(call):
    mine = register(call, "A2026")
    theirs = register(call, "A2026", user=OTHER_USER, password=OTHER_PASSWORD)
    assert theirs["nifComunicou"] == OTHER_NIF
    assert mine["codValidacaoSerie"] != theirs["codValidacaoSerie"]
    assert call("consultarSeries", {})[0] == [mine]
    assert call("consultarSeries", {}, user=OTHER_USER, password=OTHER_PASSWORD)[0] == [theirs]
    fields = {"serie": "A2026", "classeDoc": "SI", "tipoDoc": "FT",
              "codValidacaoSerie": mine["codValidacaoSerie"], "motivo": "ER",
              "declaracaoNaoEmissao": "true"}
    assert call("anularSerie", fields, user=OTHER_USER, password=OTHER_PASSWORD)[1] == 4004


# --- authentication ------------------------------------------------------------------------


def fault_of(response):
    assert response.status_code == 500
    with pytest.raises(soap.SoapFault) as caught:
        soap.parse_response(response.content, "registarSerie")
    return caught.value


def assert_auth_fault(response, number):
    fault = fault_of(response)
    assert fault.faultcode == "S:Client.Authentication"
    assert fault.faultstring == AUTH_FAULTSTRING
    assert fault.detail.split()[0] == str(number)
    return fault


def test_wrong_password_is_99(post, server):
    assert_auth_fault(post("registarSerie", registration(), password="wrong"), 99)
    assert server.fake.series() == []


def test_unknown_user_is_99(post):
    assert_auth_fault(post("registarSerie", registration(), user="123456789/7"), 99)


def test_a_reused_session_key_is_12(post, public_key):
    token = wss.security_token(public_key, USER, PASSWORD)
    assert post("registarSerie", registration(), security=token).status_code == 200
    assert_auth_fault(post("registarSerie", registration("B2026"), security=token), 12)


def test_a_session_key_is_spent_even_when_its_request_fails(post, public_key):
    token = wss.security_token(public_key, USER, "wrong")
    assert_auth_fault(post("consultarSeries", {}, security=token), 99)
    assert_auth_fault(post("consultarSeries", {}, security=token), 12)


@pytest.mark.parametrize("minutes", [-20, 20])
def test_a_stale_or_future_created_is_16(post, minutes):
    now = datetime.now(UTC) + timedelta(minutes=minutes)
    fault = assert_auth_fault(post("registarSerie", registration(), now=now), 16)
    assert "stale" in fault.detail


def test_created_within_the_allowed_skew_is_accepted(call):
    register(call, now=datetime.now(UTC) - timedelta(minutes=9))


@pytest.mark.parametrize("user", ["123456780/1", "abc/1", "123456789", "123456789/x"])
def test_a_bad_username_or_nif_is_3(post, user):
    assert_auth_fault(post("registarSerie", registration(), user=user), 3)


def test_a_missing_security_header_is_16(post):
    assert_auth_fault(post("registarSerie", registration(), security=None), 16)


def test_a_token_for_another_key_is_16(post):
    other = generate_key().public_key()
    token = wss.security_token(other, USER, PASSWORD)
    assert_auth_fault(post("registarSerie", registration(), security=token), 16)


def test_an_undecryptable_password_is_16(post, public_key):
    token = wss.security_token(public_key, USER, PASSWORD) | {"Password": "bm90IGFlcw=="}
    assert_auth_fault(post("registarSerie", registration(), security=token), 16)


# --- malformed requests --------------------------------------------------------------------


def test_broken_xml_of_a_known_operation_is_4000(server):
    response = requests.post(server.url, data=b'<ns0:registarSerie xmlns:ns0="x"><serie>',
                             timeout=5)
    assert response.status_code == 200
    assert soap.parse_response(response.content, "registarSerie")[:2] == ([], 4000)


def test_an_unknown_element_in_a_signed_request_is_4000(server, public_key):
    token = wss.security_token(public_key, USER, PASSWORD)
    body = soap.build_request("consultarSeries", {}, token).replace(
        b"</ns0:consultarSeries>", b"<extra>1</extra></ns0:consultarSeries>")
    response = requests.post(server.url, data=body, timeout=5)
    assert soap.parse_response(response.content, "consultarSeries")[:2] == ([], 4000)


@pytest.mark.parametrize("body", [
    b"not xml at all",
    b"<hello/>",
    b'<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body>'
    b'<ns0:apagarSerie xmlns:ns0="http://at.gov.pt/"/></S:Body></S:Envelope>',
], ids=["not-xml", "not-soap", "unknown-operation"])
def test_unrecognisable_requests_are_client_faults(server, body):
    response = requests.post(server.url, data=body, timeout=5)
    assert fault_of(response).faultcode == "S:Client"
    assert control(server, "calls").json() == []


# --- behaviour injection -------------------------------------------------------------------


def test_latency_delays_every_request(call, server):
    server.fake.configure(latency=0.2)
    started = time.monotonic()
    call("consultarSeries", {})
    assert time.monotonic() - started >= 0.2


def test_latency_by_type_adds_to_registrations_of_that_type(call, server):
    server.fake.configure(latency=0.1, latency_by_type={"FT": 0.2})
    started = time.monotonic()
    register(call)
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(("code", "message"), [
    (5000, "Erro Técnico Inespecífico"), (4003, None), (4043, None)])
def test_result_by_type_answers_that_code_without_registering(call, server, code, message):
    server.fake.configure(result_by_type={"FT": code})
    infos, answered, text = call("registarSerie", registration())
    assert (infos, answered) == ([], code)
    assert message is None or text == message
    assert server.fake.series() == []
    register(call, doc_type="FS")  # other types are unaffected


def test_annul_result_by_type_answers_that_code_without_annulling(call, server):
    info = register(call)
    server.fake.configure(annul_result_by_type={"FT": 5000})
    assert annul(call, info)[:2] == ([], 5000)
    assert server.fake.series()[0]["estado"] == "A"


def test_fault_by_type_answers_a_server_fault_without_registering(post, server):
    server.fake.configure(fault_by_type={"FT": True})
    fault = fault_of(post("registarSerie", registration()))
    assert fault.faultcode == "S:Server"
    assert server.fake.series() == []
    assert server.fake.calls()[-1]["code"] == "fault"


def test_drop_by_type_closes_the_connection_without_registering(post, server):
    server.fake.configure(drop_by_type={"FT": True})
    with pytest.raises(requests.ConnectionError):
        post("registarSerie", registration())
    assert control(server, "series").json() == []
    assert server.fake.calls()[-1]["code"] == "dropped"
    assert post("registarSerie", registration(doc_type="FS")).status_code == 200


def test_register_then_drop_registers_but_never_answers(call, post, server):
    server.fake.configure(register_then_drop_by_type={"FT": True})
    with pytest.raises(requests.ConnectionError):
        post("registarSerie", registration())
    series = control(server, "series").json()
    assert [(s["serie"], s["tipoDoc"], s["estado"], s["nif"]) for s in series] == [
        ("A2026", "FT", "A", NIF)]
    # What a careful client does next: query, and find the code it never received.
    infos, code, _ = call("consultarSeries", {"serie": "A2026", "tipoDoc": "FT"})
    assert code == 2002
    assert infos[0]["codValidacaoSerie"] == series[0]["codValidacaoSerie"]


def test_garbage_by_type_answers_502_html(post, server):
    server.fake.configure(garbage_by_type={"FT": True})
    response = post("registarSerie", registration())
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert server.fake.series() == []


def test_a_false_flag_switches_the_behaviour_off(post, server):
    server.fake.configure(garbage_by_type={"FT": True})
    server.fake.configure(garbage_by_type={"FT": False})
    assert post("registarSerie", registration()).status_code == 200


# --- control endpoints ---------------------------------------------------------------------


def test_calls_record_every_request_past_parsing(call, post, server):
    info = register(call)
    call("consultarSeries", {"tipoDoc": "FT"})
    finish(call, info)
    post("registarSerie", registration("B2026"), password="wrong")
    calls = control(server, "calls").json()
    assert [(c["operation"], c["code"]) for c in calls] == [
        ("registarSerie", 2001), ("consultarSeries", 2002), ("finalizarSerie", 2004),
        ("registarSerie", "fault")]
    assert calls[0] | {"at": None} == {"operation": "registarSerie", "serie": "A2026",
                                      "classeDoc": "SI", "tipoDoc": "FT", "code": 2001,
                                      "nif": NIF, "at": None}
    assert datetime.fromisoformat(calls[0]["at"]).tzinfo is not None


def test_configure_over_http_merges_keys_and_refuses_unknown_ones(server, call):
    assert control(server, "configure", {"result_by_type": {"FT": 5000}}).status_code == 200
    behaviour = control(server, "configure", {"no_activity": [OTHER_NIF]}).json()
    assert behaviour["result_by_type"] == {"FT": 5000}
    assert behaviour["no_activity"] == [OTHER_NIF]
    assert call("registarSerie", registration())[1] == 5000
    response = control(server, "configure", {"explode": True})
    assert response.status_code == 400
    assert "explode" in response.json()["error"]
    assert control(server, "configure", {"latency": -1}).status_code == 400
    for body in (b"{not json", b"[" * 100_000):  # not JSON; nested deeper than the parser goes
        response = requests.post(f"{server.base_url}/_fake/configure", data=body, timeout=5)
        assert response.status_code == 400


def test_reset_forgets_series_calls_keys_and_behaviour(server, post, public_key):
    token = wss.security_token(public_key, USER, PASSWORD)
    assert post("registarSerie", registration(), security=token).status_code == 200
    server.fake.configure(result_by_type={"FT": 5000})
    assert control(server, "reset").status_code == 200
    assert control(server, "series").json() == []
    assert control(server, "calls").json() == []
    assert control(server, "behaviour").json()["result_by_type"] == {}
    # The seen session keys are forgotten too: the same token passes again.
    response = post("registarSerie", registration(), security=token)
    assert soap.parse_response(response.content, "registarSerie")[1] == 2001


def test_public_key_endpoint_serves_the_pem(server):
    response = control(server, "public-key")
    assert response.status_code == 200
    assert response.text == server.public_key_pem
    assert wss.load_public_key(response.content)


def test_other_methods_and_paths(server):
    assert requests.get(server.url, timeout=5).status_code == 405
    assert requests.put(server.url, data=b"x", timeout=5).status_code == 405
    assert requests.get(f"{server.base_url}/_fake/nothing", timeout=5).status_code == 404
    assert requests.post(f"{server.base_url}/_fake/nothing", timeout=5).status_code == 404
    assert requests.post(f"{server.base_url}/_fake/calls", timeout=5).status_code == 405
    assert requests.get(f"{server.base_url}/_fake/reset", timeout=5).status_code == 405


def test_any_post_path_is_the_service(server, public_key):
    token = wss.security_token(public_key, USER, PASSWORD)
    response = requests.post(server.base_url + "/elsewhere",
                             data=soap.build_request("consultarSeries", {}, token), timeout=5)
    assert soap.parse_response(response.content, "consultarSeries")[1] == 2002


def test_fake_at_handles_bodies_without_http(private_key):
    fake = FakeAT(private_key, {USER: PASSWORD})
    token = wss.security_token(private_key.public_key(), USER, PASSWORD)
    status, body = fake.handle(soap.build_request("consultarSeries", {}, token))
    assert status == 200
    assert soap.parse_response(body, "consultarSeries")[1] == 2002


def test_reset_returns_to_the_behaviour_the_service_was_built_with(private_key):
    fake = FakeAT(private_key, {USER: PASSWORD}, no_activity={NIF}, latency=0)
    fake.configure(no_activity=[])
    fake.reset()
    token = wss.security_token(private_key.public_key(), USER, PASSWORD)
    _, body = fake.handle(soap.build_request("registarSerie", registration(), token))
    assert soap.parse_response(body, "registarSerie")[1] == 4043


# --- key file and command ------------------------------------------------------------------


def test_load_or_create_key_creates_a_private_file_then_reuses_it(tmp_path):
    path = tmp_path / "key.pem"
    key = load_or_create_key(path, tmp_path / "public.pem")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = load_or_create_key(path)
    assert again.private_numbers() == key.private_numbers()
    assert wss.load_public_key((tmp_path / "public.pem").read_bytes()).public_numbers() == (
        key.public_key().public_numbers())
    assert (tmp_path / "key.public.pem").exists()


# Until `invx fake-at` is registered in the CLI, the command runs under a bare Flask app.
STANDALONE = """
import os, sys, flask
from invx.tax_authority.fake_at import fake_at_command
app = flask.Flask("fake_at", instance_path=os.environ["INVX_INSTANCE_PATH"])
with app.app_context():
    fake_at_command.main(args=sys.argv[1:], prog_name="fake-at")
"""


def fake_at_argv(app):
    invx = Path(sys.executable).with_name("invx")
    if "fake-at" in app.cli.commands and invx.exists():
        return [str(invx), "fake-at"]
    return [sys.executable, "-c", STANDALONE]


def wait_until_up(process, base_url, timeout=20, **request_options):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fake-at exited: {process.communicate()}")
        try:
            return requests.get(base_url + "/_fake/public-key", timeout=1, **request_options)
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("fake-at did not start")


def test_the_command_serves_until_stopped(app, tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "INVX_INSTANCE_PATH": str(tmp_path)}
    process = subprocess.Popen([*fake_at_argv(app), "--port", str(port), "--quiet"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        pem = wait_until_up(process, base_url).content
        assert pem == (tmp_path / "fake-at-public.pem").read_bytes()
        assert stat.S_IMODE(os.stat(tmp_path / "fake-at-key.pem").st_mode) == 0o600
        token = wss.security_token(wss.load_public_key(pem), USER, PASSWORD)
        response = requests.post(f"{base_url}/SeriesWSService", timeout=5,
                                 data=soap.build_request("registarSerie", registration(), token))
        assert soap.parse_response(response.content, "registarSerie")[1] == 2001
    finally:
        process.terminate()
        out, err = process.communicate(timeout=10)
    out = out.decode()
    assert f"{base_url}/SeriesWSService" in out
    assert str(tmp_path / "fake-at-public.pem") in out
    assert USER in out
    assert PASSWORD not in out + err.decode()
