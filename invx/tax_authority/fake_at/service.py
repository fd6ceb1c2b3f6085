"""The fake AT's state and AT's rules, without HTTP: ``FakeAT.handle(body)``."""

import copy
import hmac
import secrets
import threading
import time
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from ...portugal.atcud import VALIDATION_CODE_ALPHABET
from ...portugal.lisbon import today_in_portugal
from ...portugal.nif import is_valid_nif
from ...portugal.series_names import serie_key
from .. import soap, wss
from .rules import (
    AUTH_FAULTCODE,
    AUTH_FAULTSTRING,
    CODE_LENGTH,
    DEFAULT_USERS,
    GARBAGE_PAGE,
    MESSAGES,
    OPERATION_IN_TEXT,
    REGISTERED_MESSAGE,
    USERNAME_PATTERN,
    AuthenticationFailure,
    ConnectionDropped,
    Refusal,
    check_query,
    check_registration,
    default_behaviour,
    integer,
    matches,
    parse_behaviour,
    timestamp,
    utc_now,
)


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
        self._baseline = {**default_behaviour(),
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
        found = OPERATION_IN_TEXT.search(body or b"")
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
        user = USERNAME_PATTERN.fullmatch(username)
        if user is None or not is_valid_nif(user.group(1)):
            raise AuthenticationFailure(3, "NIF inválido")
        if abs(utc_now() - created) > self.max_clock_skew:
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
            "estado": "A", "dataEstado": timestamp(utc_now()), "nifComunicou": nif,
            "nif": nif,
        }
        self._series[key] = record
        return [_info(record)], 2001, REGISTERED_MESSAGE.format(code=code)

    def _query(self, fields, nif, behaviour):
        check_query(fields)
        found = [_info(r) for r in self._series.values() if r["nif"] == nif and matches(r, fields)]
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
        record.update(estado="N", motivoEstado="ER", dataEstado=timestamp(utc_now()))
        return [_info(record)], 2003, MESSAGES[2003]

    def _finish(self, fields, nif, behaviour):
        record = self._active(nif, fields, refusal=4005)
        last = integer(fields.get("seqUltimoDocEmitido"), 1)
        if last is None or last <= int(record["numInicialSeq"]):
            raise Refusal(4047)
        record.update(estado="F", seqUltimoDocEmitido=str(last),
                      dataEstado=timestamp(utc_now()))
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
                "code": code, "nif": nif, "at": utc_now().isoformat(timespec="milliseconds"),
            })


def _info(record):
    """The infoSerie fields of a stored series (without the bookkeeping "nif")."""
    return {name: record[name] for name in soap.INFO_SERIE_FIELDS if name in record}


def generate_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


