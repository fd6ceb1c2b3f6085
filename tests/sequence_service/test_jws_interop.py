"""invx's ES256 signatures are standard compact JWS: PyJWT, a library that knows nothing of
invx, verifies them with the published keys, and invx verifies PyJWT's."""
import jwt
import pytest
from jwt.algorithms import ECAlgorithm

from invx.sequence_service import jws

from ..support.sequence_service import API, put_entry, put_series


def _published(client):
    """kid -> public key, read from the JWKS by PyJWT."""
    return {key["kid"]: ECAlgorithm.from_jwk(key) for key in
            client.get(f"{API}/keys").get_json()["keys"]}


def test_pyjwt_verifies_the_signature_of_an_entry(client, auth):
    put_series(client, auth)
    first = put_entry(client, auth).get_json()
    second = put_entry(client, auth).get_json()
    keys = _published(client)
    for entry, previous in ((first, None), (second, first["id"])):
        token = entry["sigs"][0]
        kid = jwt.get_unverified_header(token)["kid"]
        payload = jwt.decode(token, keys[kid], algorithms=["ES256"])
        assert (payload["id"], payload["cid"], payload.get("pid"), payload["num"]) == (
            entry["id"], entry["series_id"], previous, entry["code"])


def test_pyjwt_refuses_an_entry_whose_signature_was_altered(client, auth):
    put_series(client, auth)
    token = put_entry(client, auth).get_json()["sigs"][0]
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BA'}"
    key = _published(client)[jwt.get_unverified_header(token)["kid"]]
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, key, algorithms=["ES256"])


def test_invx_verifies_a_token_pyjwt_signed():
    private_key = jws.new_private_key()
    token = jwt.encode({"id": "x", "num": "INV-1"}, private_key, algorithm="ES256",
                       headers={"kid": "k1"})
    assert jws.verify(token, {"k1": private_key.public_key()}) == {"id": "x", "num": "INV-1"}


def test_invx_refuses_a_pyjwt_token_from_another_key():
    token = jwt.encode({"id": "x"}, jws.new_private_key(), algorithm="ES256",
                       headers={"kid": "k1"})
    other = jws.new_private_key().public_key()
    with pytest.raises(jws.InvalidJws, match="does not match"):
        jws.verify(token, {"k1": other})


def test_the_published_keys_are_the_ones_pyjwt_reads():
    private_key = jws.new_private_key()
    jwk = jws.public_jwk(private_key.public_key(), "k1")
    read = ECAlgorithm.from_jwk(jwk)
    assert read.public_numbers() == private_key.public_key().public_numbers()
