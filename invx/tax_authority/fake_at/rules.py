"""AT's rules as the fake applies them: messages, field checks, behaviour injection."""


import re
from datetime import UTC, date, datetime

from ...portugal.document_types import AT_CLASSES, is_valid_class_and_type
from ...portugal.series_names import is_valid_serie, serie_key
from .. import soap

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
OPERATION_IN_TEXT = re.compile(
    rb"<(?:[A-Za-z_][\w.-]*:)?(" + b"|".join(n.encode() for n in soap.REQUEST_FIELDS) +
    rb")[\s/>]")
USERNAME_PATTERN = re.compile(r"([0-9]+)/([0-9]+)", re.ASCII)
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


# Behaviour injection

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


def default_behaviour():
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


# AT's rules, without HTTP

def integer(text, low, high=None):
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
    "numInicialSeq": lambda v: integer(v, 1) is not None,
    "dataInicioPrevUtiliz": lambda v: _date(v) is not None,
    "numCertSWFatur": lambda v: integer(v, 0, 9999) is not None,
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


def matches(record, filters):
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


def check_query(filters):
    dates = {name: filters.get(name) for name in ("dataRegistoDe", "dataRegistoAte")}
    wrong = [name for name, text in dates.items() if text and _date(text) is None]
    if wrong:
        raise Refusal(4003, f"Campos com erros: {', '.join(wrong)}.")
    if all(dates.values()) and dates["dataRegistoAte"] < dates["dataRegistoDe"]:
        raise Refusal(4048)


def utc_now():
    return datetime.now(UTC)


def timestamp(moment):
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
