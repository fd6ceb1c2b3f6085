"""The fake AT answers like AT: its envelopes, result codes, state machine and per-NIF
state, over real HTTP on 127.0.0.1."""
import threading
from datetime import UTC, datetime, timedelta

import pytest
import requests

from invx.portugal.atcud import VALIDATION_CODE_ALPHABET
from invx.portugal.lisbon import today_in_portugal
from invx.tax_authority import soap, wss

from ...support.fake_at import (
    NIF,
    OTHER_NIF,
    OTHER_PASSWORD,
    OTHER_USER,
    PASSWORD,
    REGISTER_SAMPLE,
    USER,
    annul,
    body_outline,
    finish,
    register,
    registration,
)

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
