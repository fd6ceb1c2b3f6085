"""The real AT adapter: SeriesWS over SOAP 1.1, WS-Security, mutual TLS.

One ``requests`` session per adapter, with explicit connect/read timeouts. The client
certificate's key is kept in memory: it is loaded into the TLS context from a temporary
file that is itself encrypted with a one-time password and removed at once.
"""
import ipaddress
import os
import secrets
import ssl
import tempfile
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import certifi
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from requests.adapters import HTTPAdapter

from ..secret_box import SecretKeyMissing, SecretUnreadable, unseal
from . import soap, wss
from .base import (
    AlreadyRegisteredError,
    AuthenticationError,
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
SUCCESS = {"registarSerie": 2001, "consultarSeries": 2002, "anularSerie": 2003,
           "finalizarSerie": 2004}
HEADERS = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}

_INVALID = {4000, 4002, 4003, 4045, 4046, 4048, 4049}
_REFUSED = {4004, 4005, 4047, 4051}


class ConfigurationError(ValueError):
    """AT settings invx cannot use; the message says which and why."""


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


def load_client_certificate(cert_data, key_data):
    """Check that a client certificate (PEM or DER) and its key (PEM or DER) belong
    together; returns (certificate PEM, unencrypted private key PEM)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_data)
    except ValueError:
        try:
            cert = x509.load_der_x509_certificate(cert_data)
        except ValueError:
            raise ConfigurationError("the client certificate is not PEM nor DER X.509") from None
    key = None
    for load in (serialization.load_pem_private_key, serialization.load_der_private_key):
        try:
            key = load(key_data, password=None)
            break
        except (ValueError, TypeError):
            continue
    if key is None:
        raise ConfigurationError("the client key is not an unencrypted PEM or DER private key")
    if key.public_key().public_numbers() != cert.public_key().public_numbers():
        raise ConfigurationError("the client key does not belong to the client certificate")
    now = datetime.now(UTC)
    if cert.not_valid_after_utc < now:
        raise ConfigurationError(
            f"the client certificate expired on {cert.not_valid_after_utc.date()}")
    if cert.not_valid_before_utc > now:
        raise ConfigurationError(
            f"the client certificate is valid only from {cert.not_valid_before_utc.date()}")
    return (cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode("ascii"))


def tls_context(ca_bundle=None, cert_pem=None, key_pem=None):
    """The one TLS context every connection to AT uses.

    AT's server certificate is checked against ``ca_bundle`` (a PEM file), by default
    certifi's copy of Mozilla's list, the one requests itself uses; and the client
    certificate, when there is one, is presented.
    """
    context = ssl.create_default_context(cafile=ca_bundle or certifi.where())
    if cert_pem and key_pem:
        _add_client_certificate(context, cert_pem, key_pem)
    return context


def _add_client_certificate(context, cert_pem, key_pem):
    one_time = secrets.token_bytes(32)
    key = serialization.load_pem_private_key(key_pem.encode("ascii"), password=None)
    encrypted = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(one_time))
    with tempfile.TemporaryDirectory(prefix="invx-tls-") as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        for path, data in ((cert_path, cert_pem.encode("ascii")), (key_path, encrypted)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path, password=one_time)


class _TlsAdapter(HTTPAdapter):
    """requests' adapter with the context above as the only source of trust."""

    def __init__(self, context, **kwargs):
        self._context = context
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["ssl_context"] = self._context
        return super().init_poolmanager(*args, **kwargs)

    def cert_verify(self, conn, url, verify, cert):
        # requests would add its own CA bundle to the context on every new connection.
        conn.cert_reqs = "CERT_REQUIRED"


# OpenSSL's names for the alerts a server sends when it will not take the client's
# certificate (none, unknown issuer, expired, revoked...): AT refusing the credentials.
_CLIENT_CERTIFICATE_ALERTS = ("CERTIFICATE_REQUIRED", "BAD_CERTIFICATE", "UNKNOWN_CA",
                              "CERTIFICATE_EXPIRED", "CERTIFICATE_REVOKED",
                              "CERTIFICATE_UNKNOWN", "UNSUPPORTED_CERTIFICATE",
                              "ACCESS_DENIED")


def _tls_error(error):
    """The typed error for a TLS failure (``requests.exceptions.SSLError``)."""
    cause = _ssl_cause(error)
    if isinstance(cause, ssl.SSLCertVerificationError):
        # The handshake stopped before anything was sent: AT saw no request.
        return UnavailableError(
            f"AT's server certificate was not accepted ({cause.verify_message}); "
            "INVX_AT_CA_BUNDLE names the CAs it is checked against")
    reason = getattr(cause, "reason", None) or ""
    if any(reason.endswith(alert) for alert in _CLIENT_CERTIFICATE_ALERTS):
        # The server's TLS layer refused the connection: the request reached no service.
        return AuthenticationError(f"AT refused the client TLS certificate ({reason})")
    # Anything else, an EOF included, may have cut an answer short. (With TLS 1.3 a refused
    # client certificate may show up this way too: the server closes as the request goes.)
    what = reason or (cause or error).__class__.__name__
    return UnavailableError(f"the TLS connection to AT failed ({what})", outcome_unknown=True)


def _ssl_cause(error):
    """The ``ssl.SSLError`` underneath requests' and urllib3's wrappers, or None."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, ssl.SSLError):
            return error
        inner = getattr(error, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(inner, BaseException):
            inner = next((arg for arg in getattr(error, "args", ())
                          if isinstance(arg, BaseException)), None)
        error = inner or error.__cause__ or error.__context__
    return None


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


class AtSeriesService(TaxAuthority):
    """AT's SeriesWS, for the taxpayer whose sub-user credentials the account holds."""

    name = "at"

    def __init__(self, account, config=None):
        config = config or {}
        settings = account.tax_authority_config or {}
        try:
            self.endpoint = resolve_endpoint(settings["endpoint"])
            self.username = settings["username"]
            self.public_key = wss.load_public_key(settings["public_key_pem"].encode("ascii"))
            secret_key = config.get("INVX_SECRET_KEY")
            self._password = unseal(secret_key, settings["password"]).decode("utf-8")
            client_key = (unseal(secret_key, settings["client_key"]).decode("ascii")
                          if settings.get("client_key") else None)
        except (KeyError, TypeError) as error:
            raise AuthenticationError(f"the AT settings are incomplete ({error})") from None
        except (wss.KeyMaterialError, SecretKeyMissing, SecretUnreadable) as error:
            raise AuthenticationError(str(error)) from None
        self.software_certificate = int(settings.get("software_certificate", 0))
        self.series_type = settings.get("series_type", "N")
        self.timeout = (float(config.get("INVX_AT_CONNECT_TIMEOUT", 5.0)),
                        float(config.get("INVX_AT_READ_TIMEOUT", 30.0)))
        self.session = requests.Session()
        self.session.trust_env = False  # no proxy from the environment between us and AT
        self.session.mount("https://", _TlsAdapter(tls_context(
            config.get("INVX_AT_CA_BUNDLE"), settings.get("client_cert_pem"), client_key)))

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
            raise _tls_error(error) from None
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
        if code != SUCCESS[operation]:
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

