"""Key material for tests: an 'AT' key pair and a client certificate, made on the fly."""
import datetime
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def private_key(name="at"):
    return _private_key(name)


@functools.cache
def _private_key(name):
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(name="at"):
    return private_key(name).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(name):
    return private_key(name).private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption())


def certificate(name="at"):
    return _certificate(name)


@functools.cache
def _certificate(name):
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"invx test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(private_key(name).public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .sign(private_key(name), hashes.SHA256()))


def certificate_pem(name="at"):
    return certificate(name).public_bytes(serialization.Encoding.PEM)


def certificate_der(name="at"):
    return certificate(name).public_bytes(serialization.Encoding.DER)
