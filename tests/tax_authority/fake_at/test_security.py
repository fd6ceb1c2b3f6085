"""The fake AT checks the WS-Security token as AT does, and refuses malformed requests."""
from datetime import UTC, datetime, timedelta

import pytest
import requests

from invx.tax_authority import soap, wss
from invx.tax_authority.fake_at import (
    generate_key,
)

from ...support.fake_at import (
    PASSWORD,
    USER,
    assert_auth_fault,
    control,
    fault_of,
    register,
    registration,
)

# --- authentication ------------------------------------------------------------------------


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
