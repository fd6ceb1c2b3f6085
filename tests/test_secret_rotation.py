"""INVX_SECRET_KEY_PREVIOUS and ``invx secrets rotate``: a new key without losing a secret,
an entry's signature or a client's API key."""
import json

import flask_migrate
import pytest
from sqlalchemy import select

from invx import create_app
from invx.accounts import create_account
from invx.auth import current_prefix, key_gate
from invx.config import Settings
from invx.document_keys import set_document_key
from invx.extensions import db
from invx.models import Account, DocumentKey, SigningKey, utcnow
from invx.sealed import unreadable
from invx.secret_box import Keys, SecretUnreadable, is_current, reseal, seal, unseal
from invx.sequence_service import signing

from .portugal.test_document_hash import KEY as DOCUMENT_KEY
from .support.postgres import (
    POSTGRES_URL,
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
)
from .support.sequence_service import API, SALES, put_entry, put_series
from .support.settings import suite_settings

OLD = "the-old-secret-key-0123456789"
NEW = "the-new-secret-key-9876543210"


def test_a_previous_key_opens_what_it_sealed_and_reseal_moves_it_to_the_current_one():
    token = seal(OLD, "hunter2")
    keys = Keys(NEW, (OLD,))
    assert unseal(keys, token) == b"hunter2"
    assert not is_current(keys, token)
    moved = reseal(keys, token)
    assert is_current(keys, moved) and unseal(NEW, moved) == b"hunter2"
    with pytest.raises(SecretUnreadable):
        unseal(NEW, token)


def test_previous_keys_are_separated_by_commas_or_spaces_and_never_shown():
    settings = Settings.from_environment({
        "INVX_SECRET_KEY": NEW, "INVX_SECRET_KEY_PREVIOUS": f"{OLD}, second-old-key-000 "})
    assert settings.secret_key_previous == (OLD, "second-old-key-000")
    assert OLD not in repr(settings) and NEW not in repr(settings)


@pytest.fixture
def fresh_url(tmp_path):
    """A database of the test's own: rotating the suite's would reseal its signing keys."""
    if POSTGRES_URL:
        schema = create_postgres_schema()
        yield postgres_schema_url(schema)
        drop_postgres_schema(schema)
    else:
        yield f"sqlite:///{tmp_path}/rotation.sqlite3"


@pytest.fixture
def apps(fresh_url, tmp_path):
    """make(secret_key, previous): an app on the fresh database with those keys."""
    made = []

    def make(secret_key, previous=()):
        app = create_app(suite_settings(fresh_url, instance_path=str(tmp_path),
                                        secret_key=secret_key, secret_key_previous=previous),
                         TESTING=True)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
    key_gate.reset()


def _rotate(app):
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[0])


def _before_the_change(app):
    """Under OLD: two accounts, an entry signed (a signing key), a checkpoint, AT
    credentials sealed. Returns the two accounts' API keys."""
    with app.app_context():
        flask_migrate.upgrade()
        _, used = create_account("acme-es", "ES", "B12345678", None, "none")
        _, idle = create_account("idle", "ES", "B87654321", None, "none")
        account = db.session.scalar(select(Account).where(Account.name == "idle"))
        account.tax_authority_config = {"username": "123456789/1",
                                        "password": seal(OLD, "at-password"),
                                        "client_key": seal(OLD, "-----BEGIN PRIVATE KEY-----")}
        db.session.commit()
        set_document_key(account, DOCUMENT_KEY, "1234", Keys(OLD), utcnow())
    client, auth = app.test_client(), {"Authorization": f"Bearer {used}"}
    assert put_series(client, auth).status_code == 200
    assert put_entry(client, auth).status_code == 200
    assert client.get(f"{API}/series/{SALES}/verify", headers=auth).status_code == 200
    return used, idle


def test_rotation_reseals_every_secret_and_keeps_entries_and_api_keys_working(apps):
    used, idle = _before_the_change(apps(OLD))
    app = apps(NEW, (OLD,))
    client, auth = app.test_client(), {"Authorization": f"Bearer {used}"}
    # Before the rotation, the previous key opens the signing key: entries are signed.
    assert put_entry(client, auth).status_code == 200

    assert _rotate(app) == {"resealed": 4, "already_current": 0, "checkpoints_resigned": 1,
                            "api_keys_not_current": 1}  # idle's: used's converted on use
    with app.app_context():
        assert unreadable(Keys(NEW)) is None  # every sealed value opens with NEW alone
        assert all(is_current(NEW, key) for key in db.session.scalars(
            select(SigningKey.private_key)))
        assert is_current(NEW, db.session.scalar(select(DocumentKey.private_key)))
        stored = db.session.scalar(select(Account).where(Account.name == "idle"))
        assert unseal(NEW, stored.tax_authority_config["password"]) == b"at-password"
    # Idempotent: nothing left to reseal.
    assert _rotate(app) == {"resealed": 0, "already_current": 4, "checkpoints_resigned": 0,
                            "api_keys_not_current": 1}

    # The idle client's key still works while OLD is a previous key, and converts.
    idle_auth = {"Authorization": f"Bearer {idle}"}
    assert client.get(f"{API}/series/{SALES}", headers=idle_auth).status_code == 404
    assert _rotate(app)["api_keys_not_current"] == 0
    with app.app_context():
        digests = db.session.scalars(select(Account.api_key_hash)).all()
        assert all(digest.startswith(current_prefix(NEW)) for digest in digests)

    # Without OLD now: the entries verify from the re-signed checkpoint, keys work.
    after = apps(NEW).test_client()
    assert put_entry(after, auth).status_code == 200
    verified = after.get(f"{API}/series/{SALES}/verify", headers=auth).get_json()
    assert verified["valid"] is True and "checkpoint_rejected" not in verified
    assert verified["checkpoint"]["number"] == 1  # the one verified under OLD, re-signed
    assert after.get(f"{API}/series/{SALES}", headers=idle_auth).status_code == 404


def test_a_key_not_used_before_the_previous_key_is_dropped_stops_working(apps):
    _, idle = _before_the_change(apps(OLD))
    assert _rotate(apps(NEW, (OLD,)))["api_keys_not_current"] == 2
    client = apps(NEW).test_client()
    response = client.get(f"{API}/series/{SALES}", headers={"Authorization": f"Bearer {idle}"})
    assert response.status_code == 401  # why secrets rotate reports the count


def test_rotation_refuses_in_one_line_when_no_key_opens_a_secret(apps):
    _before_the_change(apps(OLD))
    app = apps(NEW)
    result = app.test_cli_runner().invoke(args=["secrets", "rotate"])
    assert result.exit_code == 1
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert "INVX_SECRET_KEY_PREVIOUS" in result.output and "nothing was changed" in result.output
    assert OLD not in result.output and NEW not in result.output
    with app.app_context():
        assert unreadable(Keys(OLD)) is None  # untouched
    with apps(OLD).app_context():
        signing.signer(OLD)  # still the one that signs


def test_a_previous_key_in_a_log_line_is_masked():
    from invx.log_safety import redact
    assert OLD not in redact(f"INVX_SECRET_KEY_PREVIOUS={OLD} INVX_SECRET_KEY={NEW}")
    assert NEW not in redact(f"secret_key_previous={OLD},{NEW}")
