"""The server's signing keys: ES256, published, rotated, sealed at rest, made once."""

from sqlalchemy import delete, text

from invx.extensions import db
from invx.sequence_service import jws, signing

from ..support.sequence_service import API, SALES, put_entry, put_series, tamper
from ..support.settings import TEST_SECRET


def test_the_keys_are_public(client, auth):
    put_series(client, auth)
    put_entry(client, auth)
    keys = client.get(f"{API}/keys").get_json()["keys"]
    assert keys and {k["alg"] for k in keys} == {"ES256"}
    assert all("d" not in k for k in keys)  # never the private half


def test_rotated_keys_stay_published_and_old_entries_still_verify(app, client, auth):
    put_series(client, auth)
    old = put_entry(client, auth).get_json()
    with app.app_context():
        new_kid = signing.rotate(TEST_SECRET)
    new = put_entry(client, auth).get_json()
    assert jws.header_and_payload(new["sigs"][0])[0]["kid"] == new_kid
    assert jws.header_and_payload(old["sigs"][0])[0]["kid"] != new_kid
    kids = [k["kid"] for k in client.get(f"{API}/keys").get_json()["keys"]]
    assert kids[0] == new_kid and len(kids) >= 2
    assert client.get(f"{API}/series/{SALES}/verify", headers=auth).get_json()["valid"]


def test_private_keys_are_sealed_at_rest(app, client, auth):
    put_series(client, auth)
    put_entry(client, auth)
    with app.app_context():
        stored = db.session.execute(text("SELECT private_key FROM signing_keys")).scalars().all()
    assert stored and not any("PRIVATE KEY" in value for value in stored)


def test_without_invx_secret_key_entries_are_refused_clearly(client, auth, settings,
                                                              monkeypatch):
    put_series(client, auth)
    settings(secret_key="a-different-secret-0123456789")
    monkeypatch.setattr(signing, "_signers", {})
    response = put_entry(client, auth)
    assert response.status_code == 503
    assert "INVX_SECRET_KEY" in response.get_json()["message"]
    settings(secret_key=None)
    assert put_entry(client, auth).status_code == 503


def test_workers_starting_together_make_one_first_signing_key(app, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from invx.models import SigningKey
    tamper(app, delete(SigningKey))
    # Emptied in place, not replaced: the cache put back after the test must not name the
    # keys just deleted, or the tests that follow would sign with a key no longer published.
    signing._signers.clear()
    barrier = __import__("threading").Barrier(8)

    def first_signer(_):
        with app.app_context():
            barrier.wait()
            kid, _ = signing.signer(TEST_SECRET)
            db.session.rollback()
            monkeypatch.setattr(signing, "_signers", {})  # as if each were its own process
            return kid

    with ThreadPoolExecutor(8) as pool:
        kids = set(pool.map(first_signer, range(8)))
    with app.app_context():
        assert db.session.query(SigningKey).count() == 1
    assert len(kids) == 1
