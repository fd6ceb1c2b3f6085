"""Compact JWS with ES256 (ECDSA P-256, SHA-256), and public keys as JWKs (RFC 7515-7518)."""
import base64
import functools
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ALGORITHM = "ES256"
_COORDINATE = 32  # bytes of a P-256 coordinate, and of r and s


class InvalidJws(ValueError):
    """Not a compact JWS, not ES256, from an unknown key, or a signature that fails."""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise InvalidJws("not base64url") from None


_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def _json(value):
    return _ENCODE(value).encode("utf-8")


@functools.lru_cache(maxsize=64)
def _header(kid):
    """The encoded header, the same for every payload a key signs: made once per key."""
    return b64url(_json({"alg": ALGORITHM, "kid": kid}))


def new_private_key():
    return ec.generate_private_key(ec.SECP256R1())


def sign(private_key, kid, payload):
    """``payload`` signed as a compact JWS with header ``{"alg": "ES256", "kid": kid}``."""
    signing_input = f"{_header(kid)}.{b64url(_json(payload))}"
    der = private_key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    raw = r.to_bytes(_COORDINATE, "big") + s.to_bytes(_COORDINATE, "big")
    return f"{signing_input}.{b64url(raw)}"


def header_and_payload(token):
    """The decoded header and payload of a compact JWS, unverified."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3:
        raise InvalidJws("a compact JWS has three parts")
    try:
        return json.loads(b64url_decode(parts[0])), json.loads(b64url_decode(parts[1]))
    except ValueError:
        raise InvalidJws("the header or payload is not JSON") from None


def verify(token, public_keys):
    """The payload of ``token`` once its ES256 signature checks out against the key its
    ``kid`` names in ``public_keys`` (kid -> public key)."""
    header, payload = header_and_payload(token)
    if header.get("alg") != ALGORITHM:
        raise InvalidJws(f"alg is {header.get('alg')!r}, not ES256")
    key = public_keys.get(header.get("kid"))
    if key is None:
        raise InvalidJws(f"unknown key {header.get('kid')!r}")
    signing_input, _, signature = token.rpartition(".")
    raw = b64url_decode(signature)
    if len(raw) != 2 * _COORDINATE:
        raise InvalidJws("an ES256 signature is 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:_COORDINATE], "big"),
                               int.from_bytes(raw[_COORDINATE:], "big"))
    try:
        key.verify(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidJws("the signature does not match") from None
    return payload


def public_jwk(public_key, kid):
    numbers = public_key.public_numbers()
    return {"kty": "EC", "crv": "P-256", "alg": ALGORITHM, "use": "sig", "kid": kid,
            "x": b64url(numbers.x.to_bytes(_COORDINATE, "big")),
            "y": b64url(numbers.y.to_bytes(_COORDINATE, "big"))}


def key_from_jwk(jwk):
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise InvalidJws("only P-256 EC keys are used")
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(jwk["x"]), "big"),
        int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()).public_key()
