"""The local AT server (``invx fake-at``) as the tests drive it: its users, the requests
they send it, what it holds, and the command run as a process."""
import sys
import time
from pathlib import Path

import pytest
import requests
from defusedxml import ElementTree

from invx.accounts import set_tax_authority
from invx.portugal.lisbon import today_in_portugal
from invx.tax_authority import soap

from .settings import TEST_SECRET

# Real AT responses, kept beside the repository (shared/reference) rather than inside it.
REGISTER_SAMPLE = (Path(__file__).resolve().parents[3] / "shared" / "reference" /
                   "at-responses" / "RegisterResponse.xml")

USER, PASSWORD, NIF = "123456789/1", "fake-at-password", "123456789"
OTHER_USER, OTHER_PASSWORD, OTHER_NIF = "555555550/2", "other-password", "555555550"
AUTH_FAULTSTRING = "Ocorreu um erro na autenticação dos contribuintes."


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


def at_codes(fake_at, state=None):
    """{AT type: validation code} of the series the fake holds (in ``state``, if given)."""
    return {s["tipoDoc"]: s["codValidacaoSerie"] for s in fake_at.fake.series()
            if state is None or s["estado"] == state}


def at_states(fake_at):
    """{AT type: state} of the series the fake holds."""
    return {s["tipoDoc"]: s["estado"] for s in fake_at.fake.series()}


def registrations(fake_at):
    """(serie, AT type) of every registarSerie the fake was sent."""
    return [(c["serie"], c["tipoDoc"]) for c in fake_at.fake.calls()
            if c["operation"] == "registarSerie"]


def fake_at_argv():
    """The ``invx fake-at`` command line."""
    return [sys.executable, "-m", "invx", "fake-at"]


def wait_until_up(process, base_url, timeout=20, **request_options):
    """The fake's public key, once the process started as ``fake_at_argv()`` answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fake-at exited: {process.communicate()}")
        try:
            return requests.get(base_url + "/_fake/public-key", timeout=1, **request_options)
        except requests.ConnectionError:
            time.sleep(0.05)
    raise AssertionError("fake-at did not start")


def point_at(app, fake_at, password=PASSWORD):
    """Put ``acme`` on the ``at`` adapter, pointed at ``fake_at`` as its sub-user."""
    with app.app_context():
        set_tax_authority("acme", "at", TEST_SECRET, endpoint=fake_at.url, username=USER,
                          password=password, public_key=fake_at.public_key_pem.encode())
