"""AT's WS-Security UsernameToken: RSA for the session key, AES-128-ECB for the rest.

For every request a fresh 16-byte key Ks is drawn; Nonce = RSA-PKCS#1 v1.5(AT's public
key, Ks), Password and Created = AES-128-ECB-PKCS#7(Ks, ...), all base64.
"""
import base64
import secrets
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import padding, serialization
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

KEY_BYTES = 16


class KeyMaterialError(ValueError):
    """The key material cannot be used."""


def load_public_key(data):
    """AT's encryption key from a PEM public key, or an X.509 certificate in PEM or DER."""
    loaders = (serialization.load_pem_public_key, serialization.load_der_public_key,
               lambda d: x509.load_pem_x509_certificate(d).public_key(),
               lambda d: x509.load_der_x509_certificate(d).public_key())
    for load in loaders:
        try:
            key = load(data)
        except (ValueError, TypeError):
            continue
        if isinstance(key, RSAPublicKey):
            return key
        raise KeyMaterialError("AT's encryption key must be an RSA key")
    raise KeyMaterialError("not a PEM public key nor an X.509 certificate (PEM or DER)")


def public_key_pem(key):
    return key.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


def aes_encrypt(key, plaintext):
    padder = padding.PKCS7(128).padder()
    data = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 (AT's scheme)
    return encryptor.update(data) + encryptor.finalize()


def aes_decrypt(key, ciphertext):
    decryptor = Cipher(algorithms.AES(key), modes.ECB()).decryptor()  # noqa: S305 (AT's scheme)
    data = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(data) + unpadder.finalize()


def created_now(now=None):
    """UTC time in AT's ISO 8601 form: ``2025-01-02T10:00:00.000Z``."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def security_token(public_key, username, password, now=None):
    """The UsernameToken fields for one request, with a fresh session key."""
    session_key = secrets.token_bytes(KEY_BYTES)
    b64 = base64.b64encode
    return {
        "Username": username,
        "Password": b64(aes_encrypt(session_key, password.encode("utf-8"))).decode("ascii"),
        "Nonce": b64(public_key.encrypt(session_key, asym_padding.PKCS1v15())).decode("ascii"),
        "Created": b64(aes_encrypt(session_key, created_now(now).encode("ascii"))).decode(
            "ascii"),
    }


def open_security_token(private_key, token):
    """What the service reads from a token: (session key, username, password, created).

    Raises ValueError when any part cannot be decrypted.
    """
    b64 = base64.b64decode
    session_key = private_key.decrypt(b64(token["Nonce"]), asym_padding.PKCS1v15())
    if len(session_key) != KEY_BYTES:
        raise ValueError("the Nonce does not hold a 16-byte key")
    password = aes_decrypt(session_key, b64(token["Password"])).decode("utf-8")
    created_text = aes_decrypt(session_key, b64(token["Created"])).decode("ascii")
    created = datetime.strptime(created_text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=UTC)
    return session_key, token["Username"], password, created
