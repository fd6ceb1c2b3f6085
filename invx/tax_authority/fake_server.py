"""A local imitation of AT's series web service (SeriesWS), as a real HTTP server.

For development and end-to-end tests: it speaks AT's SOAP envelopes (``soap``), checks AT's
WS-Security UsernameToken with its own RSA key (``wss``), and applies AT's rules and state
machine to series kept in memory, per taxpayer (NIF). Failures that are hard to get from the
real service (timeouts, dropped connections, technical errors, proxy pages) can be switched
on at runtime, per document type.

Three layers, top to bottom in this file:

- ``FakeAT``: the service's state and rules, no HTTP (``handle(body) -> (status, body)``).
- ``FakeATServer`` / ``start_in_thread``: the HTTP server, with JSON control endpoints
  under ``/_fake/``.
- ``load_or_create_key`` and the ``invx fake-at`` click command.

It is plain HTTP on purpose: no mutual TLS, and its codes were never issued by AT.
"""
import copy
import hmac
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
import traceback
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import click
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import current_app
from flask.cli import with_appcontext

from ..fiscal import (
    AT_CLASSES,
    VALIDATION_CODE_ALPHABET,
    is_valid_class_and_type,
    is_valid_nif,
    is_valid_serie,
    serie_key,
    today_in_portugal,
)
from . import soap, wss

DEFAULT_USERS = {"123456789/1": "fake-at-password"}
SERVICE_PATH = "/SeriesWSService"
CODE_LENGTH = 10
MAX_BODY_BYTES = 1024 * 1024

AUTH_FAULTCODE = "S:Client.Authentication"
AUTH_FAULTSTRING = "Ocorreu um erro na autenticação dos contribuintes."

# AT's msgResultOper texts (AT writes them in Portuguese; the client shows them verbatim).
MESSAGES = {
    2002: "Consulta de séries efetuada com sucesso.",
    2003: "Série anulada com sucesso.",
    2004: "Série finalizada com sucesso.",
    4000: "Erro na validação da estrutura do XML.",
    4001: "A série já se encontra registada para este tipo de documento.",
    4002: "Campos obrigatórios não preenchidos.",
    4003: "Campos com erros.",
    4004: "Não é possível anular a série indicada.",
    4005: "Não é possível finalizar a série indicada.",
    4043: "O contribuinte não tem atividade aberta.",
    4045: "Classe de documento inválida.",
    4046: "O tipo de documento não pertence à classe indicada.",
    4047: "O número do último documento emitido tem de ser superior ao número inicial.",
    4048: "A data final tem de ser igual ou posterior à data inicial.",
    4049: "A data prevista de início de utilização é anterior a hoje.",
    4051: "Motivo de anulação inválido.",
    5000: "Erro Técnico Inespecífico",
}
REGISTERED_MESSAGE = ("Série registada com sucesso. A situação ficou ativa e foi atribuído o "
                      "seguinte código de validação : {code}")

GARBAGE_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
                b"<h1>Bad Gateway</h1><p>The proxy server received an invalid response from "
                b"an upstream server.</p></body></html>")

# Recognises the operation in a body that could not be parsed, to answer 4000 for it.
_OPERATION_IN_TEXT = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(" + b"|".join(n.encode() for n in soap.REQUEST_FIELDS) +
    rb")[\s/>]")
_USERNAME = re.compile(r"([0-9]+)/([0-9]+)", re.ASCII)
_DIGITS = re.compile(r"[0-9]{1,18}", re.ASCII)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


class ConnectionDropped(Exception):
    """The behaviour asks to close the connection without sending any answer."""


class Refusal(Exception):
    """A business error: AT answers it with ``codResultOper`` and no ``infoSerie``."""

    def __init__(self, code, message=None):
        super().__init__(code)
        self.code, self.message = code, message or MESSAGES.get(code, f"Erro {code}.")


class AuthenticationFailure(Exception):
    """A refused UsernameToken: AT answers a ``Client.Authentication`` SOAP Fault."""

    def __init__(self, number, text):
        super().__init__(number)
        self.detail = f"{number} {text}"


# ---------------------------------------------------------------------------------------------
# Behaviour injection
# ---------------------------------------------------------------------------------------------

def _seconds(value):
    seconds = float(value)
    if not seconds >= 0:  # also refuses NaN
        raise ValueError("a latency must be a number of seconds >= 0")
    return seconds


def _by_type(cast):
    def parse(value):
        if not isinstance(value, dict):
            raise ValueError("expected an object {tipoDoc: value}")
        return {str(doc_type): cast(v) for doc_type, v in value.items()}
    return parse


def _flags(value):
    # {tipoDoc: true}; false entries are dropped so "configure(drop_by_type={'FT': False})"
    # switches a type back off.
    return {doc_type: True for doc_type, on in _by_type(bool)(value).items() if on}


def _nifs(value):
    if isinstance(value, str):
        raise ValueError("no_activity is a list of NIFs")
    return {str(nif) for nif in value}


BEHAVIOUR_KEYS = {
    "latency": _seconds,                        # every request, seconds
    "latency_by_type": _by_type(_seconds),      # registarSerie only, added to latency
    "result_by_type": _by_type(int),            # registarSerie answers this code, no change
    "annul_result_by_type": _by_type(int),      # anularSerie answers this code, no change
    "fault_by_type": _flags,                    # registarSerie answers an S:Server Fault
    "drop_by_type": _flags,                     # registarSerie: closed unanswered, unprocessed
    "register_then_drop_by_type": _flags,       # registarSerie: processed, then closed unanswered
    "garbage_by_type": _flags,                  # registarSerie: HTTP 502 with an HTML page
    "no_activity": _nifs,                       # NIFs that get 4043 on registarSerie
}


def _default_behaviour():
    return {"latency": 0.0, "latency_by_type": {}, "result_by_type": {},
            "annul_result_by_type": {}, "fault_by_type": {}, "drop_by_type": {},
            "register_then_drop_by_type": {}, "garbage_by_type": {}, "no_activity": set()}


def parse_behaviour(behaviour):
    """Checked and normalised behaviour keys; ValueError names what is wrong."""
    parsed = {}
    for name, value in behaviour.items():
        if name not in BEHAVIOUR_KEYS:
            raise ValueError(f"unknown behaviour {name!r}; known: {', '.join(BEHAVIOUR_KEYS)}")
        try:
            parsed[name] = BEHAVIOUR_KEYS[name](value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: {error}") from None
    return parsed


# ---------------------------------------------------------------------------------------------
# AT's rules, without HTTP
# ---------------------------------------------------------------------------------------------

def _integer(text, low, high=None):
    """``text`` as an int within [low, high], or None."""
    if not _DIGITS.fullmatch(text or ""):
        return None
    number = int(text)
    return number if number >= low and (high is None or number <= high) else None


def _date(text):
    """A strict ``YYYY-MM-DD`` date, or None (fromisoformat alone accepts more forms)."""
    if not _ISO_DATE.fullmatch(text or ""):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


_REGISTER_CHECKS = {
    "serie": is_valid_serie,
    "tipoSerie": lambda v: v in ("N", "F", "R"),
    "numInicialSeq": lambda v: _integer(v, 1) is not None,
    "dataInicioPrevUtiliz": lambda v: _date(v) is not None,
    "numCertSWFatur": lambda v: _integer(v, 0, 9999) is not None,
    "meioProcessamento": lambda v: v in ("PI", "PF", "OM"),
}


def check_registration(fields, today):
    """Refuse a registarSerie request as AT would, in AT's order of checks."""
    required = soap.REQUEST_FIELDS["registarSerie"]
    missing = [name for name in required if not fields.get(name)]
    if missing:
        raise Refusal(4002, f"Campos obrigatórios não preenchidos: {', '.join(missing)}.")
    wrong = [name for name in required
             if name in _REGISTER_CHECKS and not _REGISTER_CHECKS[name](fields[name])]
    if wrong:
        raise Refusal(4003, f"Campos com erros: {', '.join(wrong)}.")
    if fields["classeDoc"] not in AT_CLASSES:
        raise Refusal(4045)
    if not is_valid_class_and_type(fields["classeDoc"], fields["tipoDoc"]):
        raise Refusal(4046)
    if _date(fields["dataInicioPrevUtiliz"]) < today:
        raise Refusal(4049)


def _matches(record, filters):
    """True when a stored series passes consultarSeries' filters (all optional)."""
    for name in ("tipoSerie", "classeDoc", "tipoDoc", "codValidacaoSerie", "estado",
                 "meioProcessamento"):
        if filters.get(name) and record[name] != filters[name]:
            return False
    if filters.get("serie") and serie_key(record["serie"]) != serie_key(filters["serie"]):
        return False
    registered = record["dataRegisto"]
    if filters.get("dataRegistoDe") and registered < filters["dataRegistoDe"]:
        return False
    return not (filters.get("dataRegistoAte") and registered > filters["dataRegistoAte"])


def _check_query(filters):
    dates = {name: filters.get(name) for name in ("dataRegistoDe", "dataRegistoAte")}
    wrong = [name for name, text in dates.items() if text and _date(text) is None]
    if wrong:
        raise Refusal(4003, f"Campos com erros: {', '.join(wrong)}.")
    if all(dates.values()) and dates["dataRegistoAte"] < dates["dataRegistoDe"]:
        raise Refusal(4048)


def _utc_now():
    return datetime.now(UTC)


def _timestamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeAT:
    """AT's series service: its state (per NIF), its rules, and injectable failures.

    ``handle(body)`` answers one SOAP request with (HTTP status, response body), or raises
    ``ConnectionDropped`` when the behaviour says the connection must close unanswered.
    Thread-safe: state, calls and seen keys are only touched under one lock.
    """

    def __init__(self, private_key=None, users=None, no_activity=(),
                 max_clock_skew=timedelta(minutes=10), **behaviour):
        self.private_key = private_key or generate_key()
        self.public_key_pem = wss.public_key_pem(self.private_key.public_key())
        self.users = dict(DEFAULT_USERS if users is None else users)
        self.max_clock_skew = max_clock_skew
        # reset() goes back to what the service was built with, not to nothing.
        self._baseline = {**_default_behaviour(),
                          **parse_behaviour({"no_activity": no_activity, **behaviour})}
        self._lock = threading.RLock()
        self.reset()

    # -- test-facing state ---------------------------------------------------------------------

    def configure(self, **behaviour):
        """Switch behaviours on or off; each key given replaces its previous value."""
        parsed = parse_behaviour(behaviour)
        with self._lock:
            self._behaviour.update(parsed)

    def behaviour(self):
        """The current behaviour, JSON-ready."""
        with self._lock:
            current = copy.deepcopy(self._behaviour)
        current["no_activity"] = sorted(current["no_activity"])
        return current

    def reset(self):
        """Forget every series, call and seen session key; back to the initial behaviour."""
        with self._lock:
            self._behaviour = copy.deepcopy(self._baseline)
            self._series = {}      # (nif, serie key, class, type) -> infoSerie fields + nif
            self._codes = set()    # every validation code issued: they are unique
            self._seen_keys = set()
            self._calls = []

    def calls(self):
        with self._lock:
            return copy.deepcopy(self._calls)

    def series(self):
        with self._lock:
            return copy.deepcopy(list(self._series.values()))

    # -- the service ---------------------------------------------------------------------------

    def handle(self, body):
        """Answer one request body: (HTTP status, response bytes)."""
        try:
            operation, fields, token = soap.parse_request(body)
        except soap.MalformedMessage as error:
            self._sleep(self._current()["latency"])
            return self._malformed(body, error)
        behaviour = self._current()
        doc_type = fields.get("tipoDoc")
        registering = operation == "registarSerie"
        delay = behaviour["latency"]
        if registering:
            delay += behaviour["latency_by_type"].get(doc_type, 0.0)
        self._sleep(delay)

        # Failures "on the way to AT": the service never sees these requests.
        if registering and behaviour["drop_by_type"].get(doc_type):
            self._record(operation, fields, "dropped", self._claimed_nif(token))
            raise ConnectionDropped(doc_type)
        if registering and behaviour["garbage_by_type"].get(doc_type):
            self._record(operation, fields, "garbage", self._claimed_nif(token))
            return 502, GARBAGE_PAGE

        with self._lock:
            status, response = self._answer(operation, fields, token, behaviour)
        if registering and behaviour["register_then_drop_by_type"].get(doc_type):
            raise ConnectionDropped(doc_type)
        return status, response

    def _current(self):
        # A snapshot: configure() replaces values, it never mutates them in place.
        with self._lock:
            return dict(self._behaviour)

    @staticmethod
    def _sleep(seconds):
        if seconds > 0:
            time.sleep(seconds)

    @staticmethod
    def _malformed(body, error):
        """4000 when the operation can be recognised, else a client Fault."""
        found = _OPERATION_IN_TEXT.search(body or b"")
        if found is None:
            return 500, soap.build_fault("S:Client", f"Pedido SOAP inválido: {error}")
        operation = found.group(1).decode("ascii")
        return 200, soap.build_response(operation, [], 4000, MESSAGES[4000])

    @staticmethod
    def _claimed_nif(token):
        username = token.get("Username") or ""
        return username.split("/", 1)[0] if username else None

    def _answer(self, operation, fields, token, behaviour):
        """Authenticate, then run the operation; record the call either way. Under the lock."""
        try:
            nif = self._authenticate(token)
        except AuthenticationFailure as failure:
            self._record(operation, fields, "fault", self._claimed_nif(token))
            return 500, soap.build_fault(AUTH_FAULTCODE, AUTH_FAULTSTRING, failure.detail)
        doc_type = fields.get("tipoDoc")
        if operation == "registarSerie" and behaviour["fault_by_type"].get(doc_type):
            self._record(operation, fields, "fault", nif)
            return 500, soap.build_fault("S:Server", MESSAGES[5000], "Falha simulada")
        try:
            infos, code, message = self._run(operation, fields, nif, behaviour)
        except Refusal as refusal:
            infos, code, message = [], refusal.code, refusal.message
        self._record(operation, fields, code, nif)
        return 200, soap.build_response(operation, infos, code, message)

    def _authenticate(self, token):
        """The NIF the request acts for, or AuthenticationFailure with AT's detail number."""
        if not all(token.get(name) for name in soap.SECURITY_FIELDS):
            raise AuthenticationFailure(16, "UsernameToken em falta ou incompleto")
        try:
            session_key, username, password, created = wss.open_security_token(
                self.private_key, token)
        except (ValueError, TypeError):
            raise AuthenticationFailure(16, "Nonce, Password ou Created indecifráveis") from None
        # Every key is spent once it is seen, whatever happens to this request next.
        if session_key in self._seen_keys:
            raise AuthenticationFailure(12, "Chave simétrica repetida")
        self._seen_keys.add(session_key)
        user = _USERNAME.fullmatch(username)
        if user is None or not is_valid_nif(user.group(1)):
            raise AuthenticationFailure(3, "NIF inválido")
        if abs(_utc_now() - created) > self.max_clock_skew:
            raise AuthenticationFailure(16, "Created fora do prazo (stale)")
        expected = self.users.get(username)
        if expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            raise AuthenticationFailure(99, "Senha inválida ou acesso suspenso")
        return user.group(1)

    def _run(self, operation, fields, nif, behaviour):
        unknown = set(fields) - set(soap.REQUEST_FIELDS[operation])
        if unknown:  # the schema has no such element
            raise Refusal(4000, f"{MESSAGES[4000]} Elementos desconhecidos: "
                                f"{', '.join(sorted(unknown))}.")
        run = {"registarSerie": self._register, "consultarSeries": self._query,
               "anularSerie": self._annul, "finalizarSerie": self._finish}[operation]
        return run(fields, nif, behaviour)

    def _register(self, fields, nif, behaviour):
        injected = behaviour["result_by_type"].get(fields.get("tipoDoc"))
        if injected is not None:
            raise Refusal(injected)
        check_registration(fields, today_in_portugal())
        if nif in behaviour["no_activity"]:
            raise Refusal(4043)
        key = self._key(nif, fields)
        if key in self._series:  # in any state: AT never reuses a series of a type
            raise Refusal(4001)
        code = self._new_code()
        record = {
            "serie": fields["serie"], "tipoSerie": fields["tipoSerie"],
            "classeDoc": fields["classeDoc"], "tipoDoc": fields["tipoDoc"],
            "numInicialSeq": str(int(fields["numInicialSeq"])),
            "dataInicioPrevUtiliz": fields["dataInicioPrevUtiliz"],
            "meioProcessamento": fields["meioProcessamento"],
            "numCertSWFatur": str(int(fields["numCertSWFatur"])),
            "codValidacaoSerie": code, "dataRegisto": today_in_portugal().isoformat(),
            "estado": "A", "dataEstado": _timestamp(_utc_now()), "nifComunicou": nif,
            "nif": nif,
        }
        self._series[key] = record
        return [_info(record)], 2001, REGISTERED_MESSAGE.format(code=code)

    def _query(self, fields, nif, behaviour):
        _check_query(fields)
        found = [_info(r) for r in self._series.values() if r["nif"] == nif and _matches(r, fields)]
        return found, 2002, MESSAGES[2002]

    def _annul(self, fields, nif, behaviour):
        injected = behaviour["annul_result_by_type"].get(fields.get("tipoDoc"))
        if injected is not None:
            raise Refusal(injected)
        if fields.get("motivo") != "ER":
            raise Refusal(4051)
        record = self._active(nif, fields, refusal=4004)
        if fields.get("declaracaoNaoEmissao") != "true":
            raise Refusal(4004)
        record.update(estado="N", motivoEstado="ER", dataEstado=_timestamp(_utc_now()))
        return [_info(record)], 2003, MESSAGES[2003]

    def _finish(self, fields, nif, behaviour):
        record = self._active(nif, fields, refusal=4005)
        last = _integer(fields.get("seqUltimoDocEmitido"), 1)
        if last is None or last <= int(record["numInicialSeq"]):
            raise Refusal(4047)
        record.update(estado="F", seqUltimoDocEmitido=str(last),
                      dataEstado=_timestamp(_utc_now()))
        if fields.get("justificacao"):
            record["justificacao"] = fields["justificacao"]
        return [_info(record)], 2004, MESSAGES[2004]

    def _active(self, nif, fields, refusal):
        """The NIF's active series the request names, with the right code; else ``refusal``."""
        record = self._series.get(self._key(nif, fields))
        if (record is None or record["estado"] != "A"
                or record["codValidacaoSerie"] != fields.get("codValidacaoSerie")):
            raise Refusal(refusal)
        return record

    @staticmethod
    def _key(nif, fields):
        return (nif, serie_key(fields.get("serie") or ""), fields.get("classeDoc"),
                fields.get("tipoDoc"))

    def _new_code(self):
        while True:
            code = "".join(secrets.choice(VALIDATION_CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in self._codes:
                self._codes.add(code)
                return code

    def _record(self, operation, fields, code, nif):
        with self._lock:
            self._calls.append({
                "operation": operation, "serie": fields.get("serie"),
                "classeDoc": fields.get("classeDoc"), "tipoDoc": fields.get("tipoDoc"),
                "code": code, "nif": nif, "at": _utc_now().isoformat(timespec="milliseconds"),
            })


def _info(record):
    """The infoSerie fields of a stored series (without the bookkeeping "nif")."""
    return {name: record[name] for name in soap.INFO_SERIE_FIELDS if name in record}


def generate_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


# ---------------------------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------------------------

class _Handler(BaseHTTPRequestHandler):
    """SOAP on POST to any path; JSON control endpoints under /_fake/."""

    protocol_version = "HTTP/1.1"  # keep-alive, as AT's server; every answer has a length
    server_version = "FakeAT"
    timeout = 60  # idle keep-alive connections end, so their threads do too

    def do_POST(self):
        body = self._read_body()
        if body is None:
            return
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control("POST", path, body)
        try:
            status, answer = self.server.fake.handle(body)
        except ConnectionDropped:
            self.close_connection = True  # no status line, nothing: the socket just closes
            self.log_message("%s %s dropped", self.command, path)
            return
        except Exception:  # a bug in the fake must not look like a dropped connection
            traceback.print_exc()
            status, answer = 500, soap.build_fault("S:Server", "Fake AT internal error")
        content_type = "text/html" if status == 502 else "text/xml; charset=utf-8"
        self._send(status, answer, content_type)

    def do_GET(self):
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            return self._control("GET", path, b"")
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": "POST"})

    def _not_allowed(self):
        allow = "GET" if urlsplit(self.path).path.startswith("/_fake/") else "POST"
        self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": allow})

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _not_allowed

    # -- control endpoints -------------------------------------------------------------------

    def _control(self, method, path, body):
        endpoints = {
            "/_fake/calls": ("GET", lambda fake: self._send_json(200, fake.calls())),
            "/_fake/series": ("GET", lambda fake: self._send_json(200, fake.series())),
            "/_fake/behaviour": ("GET", lambda fake: self._send_json(200, fake.behaviour())),
            "/_fake/public-key": ("GET", lambda fake: self._send(
                200, fake.public_key_pem.encode("ascii"), "application/x-pem-file")),
            "/_fake/configure": ("POST", lambda fake: self._configure(fake, body)),
            "/_fake/reset": ("POST", lambda fake: self._reset(fake)),
        }
        if path not in endpoints:
            return self._send_json(404, {"error": f"no control endpoint {path}"})
        allowed, run = endpoints[path]
        if method != allowed:
            return self._send(405, b"Method Not Allowed\n", "text/plain", {"Allow": allowed})
        run(self.server.fake)

    def _configure(self, fake, body):
        try:
            behaviour = json.loads(body or b"{}")
            if not isinstance(behaviour, dict):
                raise ValueError("expected a JSON object of behaviour keys")
            fake.configure(**behaviour)
        except ValueError as error:  # json.JSONDecodeError is one
            return self._send_json(400, {"error": str(error)})
        self._send_json(200, fake.behaviour())

    def _reset(self, fake):
        fake.reset()
        self._send_json(200, {"reset": True})

    # -- plumbing ----------------------------------------------------------------------------

    def _read_body(self):
        """The request body, or None after refusing it (and closing: it was not read)."""
        if self.headers.get("Transfer-Encoding"):
            return self._refuse(411, b"Content-Length required (no chunked bodies)\n")
        try:
            # No Content-Length and no Transfer-Encoding: no body (RFC 9112, 6.3).
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._refuse(400, b"Bad Content-Length\n")
        if not 0 <= length <= MAX_BODY_BYTES:
            return self._refuse(413, b"Request body too large\n")
        return self.rfile.read(length)

    def _refuse(self, status, message):
        # The unread body would otherwise be taken for the next request on this connection.
        self.close_connection = True
        self._send(status, message, "text/plain", {"Connection": "close"})
        return None

    def _send(self, status, body, content_type, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_json(self, status, payload):
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json")

    def log_request(self, code="-", size="-"):
        # Method, path and status only: bodies hold encrypted passwords and are never logged.
        self.log_message("%s %s %s", self.command, urlsplit(self.path).path, code)

    def log_message(self, format, *args):
        if not self.server.quiet:
            sys.stderr.write("fake-at: " + (format % args) + "\n")


class FakeATServer(ThreadingHTTPServer):
    """The fake AT over HTTP: ``.url``, ``.fake``, ``.public_key_pem``, ``.stop()``."""

    daemon_threads = True
    block_on_close = False  # stop() must not wait for idle keep-alive connections

    def __init__(self, address, fake, quiet=False):
        host = address[0]
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__(address, _Handler)
        self.fake, self.quiet = fake, quiet
        self.public_key_pem = fake.public_key_pem
        port = self.server_address[1]
        # A wildcard address is reachable through loopback: advertise that.
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        url_host = f"[{host}]" if ":" in host else host
        self.url = f"http://{url_host}:{port}{SERVICE_PATH}"
        self.base_url = self.url[: -len(SERVICE_PATH)]
        self._thread = None

    def serve_in_thread(self):
        # A short poll interval: stop() waits for the loop to notice, tests stop it often.
        self._thread = threading.Thread(target=self.serve_forever, args=(0.05,),
                                        name="fake-at", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop serving and close the listening socket."""
        if self._thread is not None:
            self.shutdown()  # only returns once serve_forever has stopped
            self._thread.join()
            self._thread = None
        self.server_close()


def start_in_thread(host="127.0.0.1", port=0, quiet=True, **kwargs):
    """A running fake AT on ``host:port`` (0: any free port); ``kwargs`` go to ``FakeAT``."""
    return FakeATServer((host, port), FakeAT(**kwargs), quiet=quiet).serve_in_thread()


# ---------------------------------------------------------------------------------------------
# Key pair and command line
# ---------------------------------------------------------------------------------------------

def load_or_create_key(path, public_key_out=None):
    """The RSA private key kept in ``path`` (PEM), created there (0600) if missing.

    The same key across restarts means clients keep the same "AT public key". Its public
    half is written to ``public_key_out`` (default: ``<path stem>.public.pem`` beside it).
    """
    path = Path(path)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key") from None
    else:
        key = generate_key()
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    public_path = Path(public_key_out) if public_key_out else path.with_name(
        path.stem + ".public.pem")
    public_path.write_text(wss.public_key_pem(key.public_key()))
    return key


def _parse_users(ctx, param, values):
    """``NIF/N:PASSWORD`` options as {username: password}; the password may hold ":"."""
    users = {}
    for value in values:
        username, sep, password = value.partition(":")
        if not sep or not password or not _USERNAME.fullmatch(username):
            # Never echo the value: it holds a password.
            raise click.BadParameter("expected NIF/N:PASSWORD (e.g. 123456789/1:secret)")
        users[username] = password
    return users


@click.command("fake-at")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8722, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--key-file", type=click.Path(dir_okay=False),
              help="The service's RSA private key (PEM), created if missing. "
                   "[default: fake-at-key.pem in the instance folder]")
@click.option("--public-key-out", type=click.Path(dir_okay=False),
              help="Where to write the public key clients encrypt with. "
                   "[default: fake-at-public.pem in the instance folder]")
@click.option("--user", "users", multiple=True, metavar="NIF/N:PASSWORD", callback=_parse_users,
              help="A sub-user the service accepts (repeatable). "
                   "[default: 123456789/1 with password fake-at-password]")
@click.option("--no-activity", multiple=True, metavar="NIF",
              help="A NIF with no open activity: its registrations get 4043 (repeatable).")
@click.option("--latency", default=0.0, type=click.FloatRange(min=0), show_default=True,
              help="Seconds added to every request.")
@click.option("--quiet", is_flag=True, help="No access log on stderr.")
@with_appcontext
def fake_at_command(host, port, key_file, public_key_out, users, no_activity, latency, quiet):
    """Run a local imitation of AT's series web service (plain HTTP) until Ctrl-C."""
    instance = current_app.instance_path
    os.makedirs(instance, exist_ok=True)
    key_file = key_file or os.path.join(instance, "fake-at-key.pem")
    public_key_out = public_key_out or os.path.join(instance, "fake-at-public.pem")
    try:
        key = load_or_create_key(key_file, public_key_out)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    accounts = users or dict(DEFAULT_USERS)
    fake = FakeAT(key, accounts, no_activity=no_activity, latency=latency)
    try:
        server = FakeATServer((host, port), fake, quiet=quiet)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error}") from None
    click.echo(f"Fake AT SeriesWS listening on {server.url}")
    click.echo(f"Public key (PEM) written to {os.path.abspath(public_key_out)}")
    click.echo(f"Users: {', '.join(sorted(accounts))}")
    if no_activity:
        click.echo(f"NIFs without activity (4043): {', '.join(no_activity)}")
    click.echo(f"Control endpoints: {server.base_url}/_fake/ "
               "(calls, series, behaviour, configure, reset, public-key)")
    click.echo("Press Ctrl-C to stop.")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("Stopped.")
    finally:
        server.server_close()
