"""Fixtures of the fake AT's tests: a server of its own, and its answers."""
import pytest
import requests

from invx.tax_authority import soap, wss
from invx.tax_authority.fake_at import generate_key, start_in_thread

from ...support.fake_at import OTHER_PASSWORD, OTHER_USER, PASSWORD, USER


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
