"""Key material for tests, made on the fly: an 'AT' key pair, self-signed certificates, and
small certificate authorities with the TLS certificates they issue."""
import datetime
import functools
import ipaddress

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


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


def certificate(name="at", valid=(-1, 30)):
    """Self-signed, valid from and until ``valid`` days from now."""
    return _certificate(name, valid)


@functools.cache
def _certificate(name, valid):
    return _self_signed(name, f"invx test {name}", valid).sign(private_key(name), hashes.SHA256())


def certificate_pem(name="at", valid=(-1, 30)):
    return certificate(name, valid).public_bytes(serialization.Encoding.PEM)


def certificate_der(name="at"):
    return certificate(name).public_bytes(serialization.Encoding.DER)


def ca_certificate_pem(name):
    """A self-signed certificate authority ``name``, as PEM."""
    return _ca_certificate(name).public_bytes(serialization.Encoding.PEM)


@functools.cache
def _ca_certificate(name):
    key = private_key(name)
    return (_self_signed(name, f"invx test CA {name}")
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))


def issued_certificate_pem(name, ca, server=False):
    """A certificate for ``name``'s key, issued by the CA ``ca``: for a TLS server on
    127.0.0.1 and localhost, or a TLS client."""
    return _issued_certificate(name, ca, server).public_bytes(serialization.Encoding.PEM)


@functools.cache
def _issued_certificate(name, ca, server):
    issuer, ca_key = _ca_certificate(ca), private_key(ca)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"invx test {name}")])
    builder = (_valid(x509.CertificateBuilder()).subject_name(subject)
               .issuer_name(issuer.subject).public_key(private_key(name).public_key())
               .serial_number(x509.random_serial_number())
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage(
                   [ExtendedKeyUsageOID.SERVER_AUTH if server
                    else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _self_signed(name, common_name, valid=(-1, 30)):
    """A certificate builder for ``name``'s key, issued to and by ``common_name``."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    return (_valid(x509.CertificateBuilder(), valid).subject_name(subject).issuer_name(subject)
            .public_key(private_key(name).public_key())
            .serial_number(x509.random_serial_number()))


def _valid(builder, valid=(-1, 30)):
    """``builder``, valid from and until ``valid`` days from now."""
    now = datetime.datetime.now(datetime.UTC)
    return (builder.not_valid_before(now + datetime.timedelta(days=valid[0]))
            .not_valid_after(now + datetime.timedelta(days=valid[1])))
