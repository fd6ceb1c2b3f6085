"""TLS to AT: one trust for every connection, the client certificate, typed failures.

AT's endpoints take only mutual TLS. Every connection uses one ``ssl.SSLContext``: it
trusts certifi's list of CAs or ``INVX_AT_CA_BUNDLE`` instead, and presents the client
certificate AT issued to the software producer. Its private key is kept in memory: it is
loaded into the context from a temporary file that is itself encrypted with a one-time
password and removed at once.
"""
import os
import secrets
import ssl
import tempfile
from datetime import UTC, datetime

import certifi
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from requests.adapters import HTTPAdapter

from .base import AuthenticationError, ConfigurationError, UnavailableError


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


class TlsAdapter(HTTPAdapter):
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


def tls_error(error):
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
