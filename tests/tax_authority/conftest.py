"""Fixtures of the Tax Authority adapters' tests: a PKI, and the local AT over HTTPS."""
from types import SimpleNamespace

import pytest

from invx.tax_authority.fake_at import server_tls_context, start_in_thread

from ..support import at_keys


@pytest.fixture
def pki(tmp_path):
    """PEM files: the CA of the fake's server certificate, that certificate and its key, the
    CA clients' certificates must come from, and a client certificate it issued."""
    def write(name, data):
        path = tmp_path / name
        path.write_bytes(data)
        return str(path)

    return SimpleNamespace(
        server_ca=write("server-ca.pem", at_keys.ca_certificate_pem("server-ca")),
        server_cert=write("server.pem", at_keys.issued_certificate_pem(
            "server", "server-ca", server=True)),
        server_key=write("server-key.pem", at_keys.private_pem("server")),
        client_ca=write("client-ca.pem", at_keys.ca_certificate_pem("client-ca")),
        client_cert=write("client.pem", at_keys.issued_certificate_pem("client", "client-ca")),
        client_key=write("client-key.pem", at_keys.private_pem("client")))


@pytest.fixture
def tls_at(pki):
    """The fake AT on HTTPS, asking for a certificate from the client CA."""
    server = start_in_thread(tls=server_tls_context(pki.server_cert, pki.server_key,
                                                    pki.client_ca))
    yield server
    server.stop()
