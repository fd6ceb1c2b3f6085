"""The real AT adapter: SeriesWS over SOAP 1.1, WS-Security, mutual TLS (``tls``).

One ``requests`` session per adapter, with explicit connect/read timeouts. It also checks
the settings an account stores for it (``stored_settings``).
"""
import ipaddress
import re
from datetime import date, datetime
from urllib.parse import urlsplit

import requests

from ..secret_box import SecretKeyMissing, SecretUnreadable, seal, unseal
from . import soap, tls, wss
from .base import (
    SUCCESS_CODES,
    AlreadyRegisteredError,
    AuthenticationError,
    ConfigurationError,
    InvalidRequestError,
    NoActivityError,
    OperationRefusedError,
    SeriesInfo,
    TaxAuthority,
    TaxAuthorityError,
    UnavailableError,
)

ENDPOINTS = {
    "test": "https://servicos.portaldasfinancas.gov.pt:722/SeriesWSService",
    "production": "https://servicos.portaldasfinancas.gov.pt:422/SeriesWSService",
}
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

_INVALID = {4000, 4002, 4003, 4045, 4046, 4048, 4049}
_REFUSED = {4004, 4005, 4047, 4051}


def resolve_endpoint(value):
    """``test``, ``production`` or a URL; plain http only to a loopback address."""
    url = ENDPOINTS.get(value, value)
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
        return url
    raise ConfigurationError(
        "the endpoint must be test, production, an https:// URL, or an http:// URL on a "
        "loopback address (for the local AT server)")


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_username(username, fiscal_id):
    match = USERNAME_PATTERN.fullmatch(username)
    if not match:
        raise ConfigurationError("the username is NIF/SUB-USER, e.g. 123456789/1")
    if match.group(1) != fiscal_id:
        raise ConfigurationError(f"the username's NIF must be the account's, {fiscal_id}")


def _int(value):
    return int(value) if value not in (None, "") else None


def _date(value):
    return date.fromisoformat(value) if value else None


def _datetime(value):
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def series_info(fields):
    """An ``infoSerie`` as AT wrote it, typed."""
    return SeriesInfo(
        serie=fields.get("serie", ""), series_type=fields.get("tipoSerie", ""),
        doc_class=fields.get("classeDoc", ""), doc_type=fields.get("tipoDoc", ""),
        first_number=_int(fields.get("numInicialSeq")) or 0,
        start_date=_date(fields.get("dataInicioPrevUtiliz")),
        validation_code=fields.get("codValidacaoSerie", ""),
        registered_on=_date(fields.get("dataRegisto")), state=fields.get("estado", ""),
        state_at=_datetime(fields.get("dataEstado")),
        communicated_by=fields.get("nifComunicou", ""),
        software_certificate=_int(fields.get("numCertSWFatur")) or 0,
        processing=fields.get("meioProcessamento", ""),
        last_number=_int(fields.get("seqUltimoDocEmitido")),
        final_number=_int(fields.get("numFinalSeq")),
        state_reason=fields.get("motivoEstado") or None,
        justification=fields.get("justificacao") or None)


def result_error(code, message):
    """The typed error for one of AT's non-success result codes."""
    if code == 4001:
        return AlreadyRegisteredError(message, code)
    if code == 4043:
        return NoActivityError(message, code)
    if code in _INVALID:
        return InvalidRequestError(message, code)
    if code in _REFUSED:
        return OperationRefusedError(message, code)
    if code == 5000:
        return UnavailableError(message, code)
    return TaxAuthorityError(message, code)


USERNAME_PATTERN = re.compile(r"([0-9]{9})/([0-9]{1,6})")  # NIF/SUB-USER
SERIES_TYPES = ("N", "F", "R")


class AtSeriesService(TaxAuthority):
    """AT's SeriesWS, for the taxpayer whose sub-user credentials the account holds."""

    name = "at"
    sealed_settings = ("password", "client_key")

    @classmethod
    def stored_settings(cls, account, secret_key, endpoint=None, username=None,
                        password=None, public_key=None, client_cert=None, client_key=None,
                        software_certificate=None, series_type=None):
        """Checked, storable settings, the password and the client key sealed."""
        missing = [option for option, value in (
            ("--endpoint", endpoint), ("--username", username), ("--public-key", public_key),
            ("password", password)) if not value]
        if missing:
            raise ConfigurationError(f"the at adapter needs {', '.join(missing)}")
        endpoint = resolve_endpoint(endpoint)
        _check_username(username, account.fiscal_id)
        try:
            at_key = wss.public_key_pem(wss.load_public_key(public_key))
        except wss.KeyMaterialError as error:
            raise ConfigurationError(f"--public-key: {error}") from None
        if (client_cert is None) != (client_key is None):
            raise ConfigurationError("--client-cert and --client-key go together")
        if client_cert is None and endpoint in ENDPOINTS.values():
            raise ConfigurationError(
                "AT's endpoints take only mutual TLS: give --client-cert and --client-key, "
                "the certificate AT issued to the software producer")
        software_certificate = 0 if software_certificate is None else software_certificate
        if not 0 <= software_certificate <= 9999:
            raise ConfigurationError("--software-certificate is AT's certificate number, "
                                     "0 to 9999")
        series_type = series_type or "N"
        if series_type not in SERIES_TYPES:
            raise ConfigurationError("--series-type is N (normal), F (training) or R "
                                     "(recovery)")
        stored = {"endpoint": endpoint, "username": username, "public_key_pem": at_key,
                  "software_certificate": software_certificate, "series_type": series_type}
        try:
            if client_cert is not None:
                cert_pem, key_pem = tls.load_client_certificate(client_cert, client_key)
                stored["client_cert_pem"] = cert_pem
                stored["client_key"] = seal(secret_key, key_pem)
            stored["password"] = seal(secret_key, password)
        except SecretKeyMissing as error:
            raise ConfigurationError(str(error)) from None
        return stored

    def __init__(self, account, settings):
        stored = account.tax_authority_config or {}
        try:
            self.endpoint = resolve_endpoint(stored["endpoint"])
            self.username = stored["username"]
            self.public_key = wss.load_public_key(stored["public_key_pem"].encode("ascii"))
            self._password = unseal(settings.secret_keys, stored["password"]).decode("utf-8")
            client_key = (unseal(settings.secret_keys, stored["client_key"]).decode("ascii")
                          if stored.get("client_key") else None)
        except (KeyError, TypeError) as error:
            raise AuthenticationError(f"the AT settings are incomplete ({error})") from None
        except (wss.KeyMaterialError, SecretKeyMissing, SecretUnreadable) as error:
            raise AuthenticationError(str(error)) from None
        self.software_certificate = int(stored.get("software_certificate", 0))
        self.series_type = stored.get("series_type", "N")
        self.timeout = settings.at_timeout
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between us and AT
        self.session.mount("https://", tls.TlsAdapter(tls.tls_context(
            settings.at_ca_bundle, stored.get("client_cert_pem"), client_key)))

    def close(self):
        self.session.close()

    def _call(self, operation, fields):
        """Send one operation; returns (infos, message) on success, raises otherwise."""
        token = wss.security_token(self.public_key, self.username, self._password)
        body = soap.build_request(operation, fields, token)
        try:
            response = self.session.post(self.endpoint, data=body, headers=HEADERS,
                                         timeout=self.timeout, allow_redirects=False)
        except requests.ConnectTimeout:
            raise UnavailableError("AT did not accept the connection in time") from None
        except requests.Timeout:
            raise UnavailableError("AT did not answer in time", outcome_unknown=True) from None
        except requests.exceptions.SSLError as error:
            raise tls.tls_error(error) from None
        except requests.RequestException as error:
            raise UnavailableError(f"no answer from AT ({error.__class__.__name__})",
                                   outcome_unknown=True) from None
        try:
            infos, code, message = soap.parse_response(response.content, operation)
        except soap.SoapFault as fault:
            text = f"{fault.faultstring} ({fault.faultcode} {fault.detail})".strip()
            if "authentication" in fault.faultcode.lower():
                raise AuthenticationError(text) from None
            raise UnavailableError(f"SOAP fault: {text}", outcome_unknown=True) from None
        except soap.MalformedMessage as error:
            raise UnavailableError(f"unreadable answer (HTTP {response.status_code}): {error}",
                                   outcome_unknown=True) from None
        if code != SUCCESS_CODES[operation]:
            raise result_error(code, message)
        return infos, message

    def _one(self, operation, fields):
        infos, message = self._call(operation, fields)
        if not infos:
            raise UnavailableError(f"AT answered {operation} without the series: {message}")
        return series_info(infos[0])

    def register_series(self, registration):
        return self._one("registarSerie", {
            "serie": registration.serie, "tipoSerie": registration.series_type,
            "classeDoc": registration.doc_class, "tipoDoc": registration.doc_type,
            "numInicialSeq": registration.first_number,
            "dataInicioPrevUtiliz": registration.start_date.isoformat(),
            "numCertSWFatur": registration.software_certificate,
            "meioProcessamento": registration.processing})

    def query_series(self, serie=None, doc_class=None, doc_type=None):
        infos, _ = self._call("consultarSeries",
                              {"serie": serie, "classeDoc": doc_class, "tipoDoc": doc_type})
        return [series_info(info) for info in infos]

    def annul_series(self, serie, doc_class, doc_type, validation_code, reason="ER"):
        return self._one("anularSerie", {
            "serie": serie, "classeDoc": doc_class, "tipoDoc": doc_type,
            "codValidacaoSerie": validation_code, "motivo": reason,
            "declaracaoNaoEmissao": "true"})

    def finish_series(self, serie, doc_class, doc_type, validation_code, last_number,
                      justification=None):
        return self._one("finalizarSerie", {
            "serie": serie, "classeDoc": doc_class, "tipoDoc": doc_type,
            "codValidacaoSerie": validation_code, "seqUltimoDocEmitido": last_number,
            "justificacao": justification})

