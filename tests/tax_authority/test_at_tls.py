"""The at adapter's TLS, against the local AT server over HTTPS (``invx fake-at
--tls-cert ... --client-ca ...``): AT's server checked against INVX_AT_CA_BUNDLE, the client
certificate presented (mutual TLS), and each way it can fail told apart."""
import os
import subprocess
from datetime import date
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from invx.accounts import set_tax_authority
from invx.config import ConfigError, Settings
from invx.secret_box import seal
from invx.tax_authority.at_soap import AtSeriesService
from invx.tax_authority.base import AuthenticationError, SeriesRegistration, UnavailableError
from invx.tax_authority.tls import load_client_certificate

from ..support import at_keys
from ..support.fake_at import PASSWORD, USER, fake_at_argv, wait_until_up
from ..support.live import free_port
from ..support.settings import TEST_SECRET as SECRET


def client_certificate(ca="client-ca"):
    return load_client_certificate(at_keys.issued_certificate_pem("client", ca),
                                   at_keys.private_pem("client"))


def adapter(server, ca_bundle=None, certificate=None):
    settings = {"endpoint": server.url, "username": USER,
                "public_key_pem": server.public_key_pem, "password": seal(SECRET, PASSWORD)}
    if certificate is not None:
        settings["client_cert_pem"], key = certificate
        settings["client_key"] = seal(SECRET, key)
    return AtSeriesService(SimpleNamespace(tax_authority_config=settings),
                           Settings(secret_key=SECRET, at_connect_timeout=2, at_read_timeout=3,
                                    at_ca_bundle=ca_bundle))


def registration():
    return SeriesRegistration(serie="A2026", series_type="N", doc_class="SI", doc_type="FT",
                              first_number=1, start_date=date.today())


def test_with_ats_ca_and_the_client_certificate_a_series_is_registered(tls_at, pki):
    service = adapter(tls_at, pki.server_ca, client_certificate())
    info = service.register_series(registration())
    assert info.validation_code == tls_at.fake.series()[0]["codValidacaoSerie"]
    assert service.query_series("A2026", "SI", "FT")[0].validation_code == info.validation_code
    # The bundle replaces the default list: requests added none of its own CAs on the way.
    context = service.session.get_adapter(tls_at.url)._context
    assert [ca["subject"] for ca in context.get_ca_certs()] == [
        ((("commonName", "invx test CA server-ca"),),)]


def test_a_server_certificate_from_an_unknown_ca_stops_before_anything_is_sent(tls_at):
    service = adapter(tls_at, certificate=client_certificate())  # certifi's CAs only
    with pytest.raises(UnavailableError, match="server certificate was not accepted") as caught:
        service.register_series(registration())
    assert "INVX_AT_CA_BUNDLE" in caught.value.message
    assert not caught.value.outcome_unknown  # so nothing needs looking up at AT afterwards
    assert tls_at.fake.calls() == []


@pytest.mark.parametrize("certificate", [None, "other-ca"], ids=["none", "another-ca"])
def test_a_client_certificate_at_does_not_take_is_a_credentials_error(tls_at, pki, certificate):
    service = adapter(tls_at, pki.server_ca,
                      certificate and client_certificate(ca=certificate))
    with pytest.raises(AuthenticationError, match="refused the client TLS certificate") as caught:
        service.register_series(registration())
    assert not caught.value.outcome_unknown
    assert tls_at.fake.calls() == []


def test_the_ca_bundle_is_the_only_trust(tls_at, pki, tmp_path):
    # A bundle with another CA in it: the server's CA is not trusted, whatever else is.
    other = tmp_path / "other-ca.pem"
    other.write_bytes(at_keys.ca_certificate_pem("other-ca"))
    with pytest.raises(UnavailableError, match="server certificate was not accepted"):
        adapter(tls_at, str(other), client_certificate()).register_series(registration())


def post_through_mutual_tls(app, client, make_account, tls_at, pki, settings, **client_tls):
    """POST /sequences.json for acme, on the at adapter pointed at ``tls_at``, with the
    server trusting its CA; ``client_tls`` is the client certificate and key, if any."""
    settings(secret_key=SECRET, at_ca_bundle=pki.server_ca)
    key = make_account(tax_authority="none")
    with app.app_context():
        set_tax_authority("acme", "at", SECRET, endpoint=tls_at.url, username=USER,
                          password=PASSWORD, public_key=tls_at.public_key_pem.encode(),
                          **client_tls)
    response = client.post(f"/sequences.json?api_key={key}",
                           json={"sequence": {"serie": "2026"}})
    return key, response


def test_a_sequence_is_registered_through_the_api_over_mutual_tls(
        app, client, make_account, tls_at, pki, settings):
    _, response = post_through_mutual_tls(
        app, client, make_account, tls_at, pki, settings,
        client_cert=Path(pki.client_cert).read_bytes(),
        client_key=Path(pki.client_key).read_bytes())
    assert response.status_code == 201
    codes = {s["tipoDoc"]: s["codValidacaoSerie"] for s in tls_at.fake.series()}
    assert len(codes) == 11
    assert response.get_json()["sequence"]["current_invoice_validation_code"] == codes["FT"]


def test_without_the_client_certificate_the_api_answers_invalid_credentials(
        app, client, make_account, tls_at, pki, settings):
    key, response = post_through_mutual_tls(app, client, make_account, tls_at, pki, settings)
    assert response.status_code == 422
    assert response.get_json() == {"code": "004", "message": "Invalid Tax Authority credentials."}
    assert tls_at.fake.series() == []
    # AT's TLS layer refused every connection, so no outcome is in doubt: nothing is kept.
    assert client.get(f"/sequences.json?api_key={key}").get_json()["sequences"] == []


def test_a_ca_bundle_that_cannot_be_read_stops_the_start(tmp_path):
    with pytest.raises(ConfigError, match=r"INVX_AT_CA_BUNDLE.*No such file"):
        Settings.from_environment({"INVX_AT_CA_BUNDLE": str(tmp_path / "missing.pem")})
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"INVX_AT_CA_BUNDLE.*no certificate"):
        Settings.from_environment({"INVX_AT_CA_BUNDLE": str(garbage)})


def test_a_ca_bundle_is_taken_when_it_holds_a_certificate(pki):
    assert Settings.from_environment(
        {"INVX_AT_CA_BUNDLE": pki.server_ca}).at_ca_bundle == pki.server_ca


def test_the_command_serves_https_and_asks_for_the_client_certificate(tmp_path, pki):
    port = free_port()
    base_url = f"https://127.0.0.1:{port}"
    env = {**os.environ, "INVX_INSTANCE_PATH": str(tmp_path)}
    process = subprocess.Popen(
        [*fake_at_argv(), "--port", str(port), "--tls-cert", pki.server_cert,
         "--tls-key", pki.server_key, "--client-ca", pki.client_ca],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        mutual = {"verify": pki.server_ca, "cert": (pki.client_cert, pki.client_key)}
        assert wait_until_up(process, base_url, **mutual).status_code == 200
        with pytest.raises(requests.exceptions.SSLError):  # no client certificate
            requests.get(f"{base_url}/_fake/public-key", verify=pki.server_ca,
                         timeout=5).raise_for_status()
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=10)
    assert f"{base_url}/SeriesWSService" in out.decode()
    assert "Client certificates required" in out.decode()


@pytest.mark.parametrize("options", [["--tls-key", "KEY"], ["--tls-cert", "CERT"],
                                     ["--client-ca", "CA"]])
def test_the_commands_tls_files_go_together(tmp_path, pki, options):
    files = {"KEY": pki.server_key, "CERT": pki.server_cert, "CA": pki.client_ca}
    done = subprocess.run([*fake_at_argv(), "--port", "0",
                           *(files.get(option, option) for option in options)],
                          env={**os.environ, "INVX_INSTANCE_PATH": str(tmp_path)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--tls-cert and --tls-key go together" in done.stderr
