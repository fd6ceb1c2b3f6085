"""The fake AT's key pair, kept in a file so that clients keep the same "AT public key"."""
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .. import wss
from .service import generate_key


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
