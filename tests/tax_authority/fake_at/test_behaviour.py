"""The fake AT's injected failures and its control endpoints."""
import http.client
import time
from datetime import datetime
from urllib.parse import urlsplit

import pytest
import requests

from invx.tax_authority import soap, wss
from invx.tax_authority.fake_at import (
    FakeAT,
)

from ...support.fake_at import (
    NIF,
    OTHER_NIF,
    PASSWORD,
    USER,
    annul,
    control,
    fault_of,
    finish,
    register,
    registration,
)

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


@pytest.mark.parametrize("length", ["1_0", "+10", "²", "-1", "0x10"])
def test_a_content_length_that_is_not_ascii_digits_is_400(server, length):
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=5)
    try:
        connection.putrequest("POST", address.path)
        connection.putheader("Content-Length", length)
        connection.endheaders(b"0123456789")
        assert connection.getresponse().status == 400
    finally:
        connection.close()
