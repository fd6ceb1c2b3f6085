"""The at adapter's set-up: endpoints, AT's key, client certificates, sealed secrets."""
import os
import ssl
import tempfile
from types import SimpleNamespace

import pytest

from invx.config import Settings
from invx.secret_box import SecretKeyMissing, SecretUnreadable, seal, unseal
from invx.tax_authority import wss
from invx.tax_authority.at_soap import AtSeriesService, resolve_endpoint
from invx.tax_authority.base import (
    AuthenticationError,
    ConfigurationError,
)
from invx.tax_authority.tls import TlsAdapter, load_client_certificate

from ..support import at_keys
from ..support.at_service import PASSWORD, SECRET, adapter


@pytest.mark.parametrize("value, url", [
    ("test", "https://servicos.portaldasfinancas.gov.pt:722/SeriesWSService"),
    ("production", "https://servicos.portaldasfinancas.gov.pt:422/SeriesWSService"),
    ("https://at.example.pt/SeriesWSService", "https://at.example.pt/SeriesWSService"),
    ("http://127.0.0.1:8722/SeriesWSService", "http://127.0.0.1:8722/SeriesWSService"),
    ("http://localhost:8722/", "http://localhost:8722/"),
    ("http://[::1]:8722/", "http://[::1]:8722/"),
])
def test_endpoints(value, url):
    assert resolve_endpoint(value) == url


@pytest.mark.parametrize("value", ["http://at.example.pt/", "http://10.0.0.1/", "ftp://x/",
                                   "staging", ""])
def test_plain_http_is_refused_beyond_loopback(value):
    with pytest.raises(ConfigurationError):
        resolve_endpoint(value)


def test_a_client_certificate_is_loaded_into_the_tls_context_and_leaves_no_file():
    cert, key = load_client_certificate(at_keys.certificate_pem("client"),
                                        at_keys.private_pem("client"))
    before = set(os.listdir(tempfile.gettempdir()))
    service = adapter(client_cert_pem=cert, client_key=seal(SECRET, key))
    mounted = service.session.get_adapter("https://servicos.portaldasfinancas.gov.pt:722/")
    assert isinstance(mounted, TlsAdapter)
    assert isinstance(mounted._context, ssl.SSLContext)
    assert mounted._context.verify_mode == ssl.CERT_REQUIRED
    assert set(os.listdir(tempfile.gettempdir())) == before


def test_a_client_key_that_is_not_the_certificates_is_refused():
    with pytest.raises(ConfigurationError, match="does not belong"):
        load_client_certificate(at_keys.certificate_pem("client"), at_keys.private_pem("other"))


@pytest.mark.parametrize("data", [at_keys.public_pem(), at_keys.certificate_pem(),
                                  at_keys.certificate_der()], ids=["pem-key", "pem-cert", "der"])
def test_ats_key_may_be_a_public_key_or_a_certificate(data):
    assert wss.load_public_key(data).public_numbers() == \
        at_keys.private_key().public_key().public_numbers()


def test_garbage_is_not_a_key():
    with pytest.raises(wss.KeyMaterialError):
        wss.load_public_key(b"-----BEGIN NOTHING-----")


def test_without_the_secret_key_the_adapter_cannot_start():
    settings = {"endpoint": "test", "username": "555555550/1",
                "public_key_pem": at_keys.public_pem().decode(),
                "password": seal(SECRET, PASSWORD)}
    with pytest.raises(AuthenticationError, match="INVX_SECRET_KEY"):
        AtSeriesService(SimpleNamespace(tax_authority_config=settings), Settings())


def test_secrets_are_sealed_and_open_only_with_their_key():
    token = seal(SECRET, PASSWORD)
    assert PASSWORD not in token
    assert unseal(SECRET, token).decode() == PASSWORD
    with pytest.raises(SecretUnreadable):
        unseal("another-secret-key-entirely", token)
    with pytest.raises(SecretKeyMissing):
        seal(None, PASSWORD)
    with pytest.raises(SecretKeyMissing):
        seal("short", PASSWORD)
