"""Migrations: upgrade from an empty database on SQLite and PostgreSQL, matching the models."""
import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from invx import create_app
from invx.config import Settings
from invx.extensions import db

from .support.postgres import (
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
    requires_postgres,
)

TABLES = {"accounts", "sequences", "series", "sandbox_series", "at_calls", "entries",
          "signing_keys", "verification_checkpoints", "document_keys", "alembic_version"}


def upgrade_and_check(url):
    app = create_app(Settings(database_url=url))
    with app.app_context():
        flask_migrate.upgrade()
        assert set(inspect(db.engine).get_table_names()) == TABLES
        with db.engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
        assert differences == [], "the models and the migrations disagree"
        flask_migrate.downgrade(revision="base")
        assert set(inspect(db.engine).get_table_names()) == {"alembic_version"}
        flask_migrate.upgrade()
        db.engine.dispose()


def test_sqlite_upgrades_from_empty_to_the_models(tmp_path):
    upgrade_and_check(f"sqlite:///{tmp_path}/fresh.sqlite3")


@requires_postgres
def test_postgresql_upgrades_from_empty_to_the_models():
    schema = create_postgres_schema()
    try:
        upgrade_and_check(postgres_schema_url(schema))
    finally:
        drop_postgres_schema(schema)


def test_the_cli_upgrades_the_configured_database(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from invx.commands import main
    monkeypatch.setenv("INVX_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    app = create_app()
    with app.app_context():
        assert "accounts" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_the_app_never_creates_tables_by_itself(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/untouched.sqlite3"))
    with app.app_context():
        assert inspect(db.engine).get_table_names() == []
        db.engine.dispose()


@pytest.mark.parametrize("url, expected", [
    ("postgresql://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("postgres://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("postgresql+psycopg2://u@h/d", "postgresql+psycopg2://u@h/d"),
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("postgresql://u:p@h1:5432,h2:5433/invx?target_session_attrs=read-write",
     "postgresql+psycopg2://u:p@/invx?host=h1:5432&host=h2:5433"
     "&target_session_attrs=read-write"),
    ("postgres://h1,h2/invx", "postgresql+psycopg2:///invx?host=h1&host=h2"),
])
def test_postgres_urls_use_psycopg2(url, expected):
    from invx.config import database_url
    assert database_url(url) == expected


def test_a_multi_host_url_gives_libpq_every_host_in_order():
    from sqlalchemy.dialects.postgresql.psycopg2 import PGDialect_psycopg2
    from sqlalchemy.engine import make_url

    from invx.config import database_url
    url = make_url(database_url("postgresql://invx@10.0.0.1:5432,10.0.0.2:5433/invx"
                                "?target_session_attrs=read-write"))
    _, options = PGDialect_psycopg2().create_connect_args(url)
    assert options == {"dbname": "invx", "user": "invx", "host": "10.0.0.1,10.0.0.2",
                       "port": "5432,5433", "target_session_attrs": "read-write"}


def test_upgrading_a_database_with_sequences_gives_their_series_document_numbers(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/old.sqlite3"))
    with app.app_context():
        flask_migrate.upgrade(revision="0002")
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO accounts (id, name, country, fiscal_id, tax_authority, "
                "api_key_hash, created_at) VALUES (1, 'acme', 'PT', '123456789', 'sandbox', "
                "'" + "0" * 64 + "', '2026-01-01')")
            connection.exec_driver_sql(
                "INSERT INTO sequences (pk, account_id, serie, serie_key, state, created_at, "
                "updated_at) VALUES (1, 1, '2024', '2024', 'ready', '2026-01-01', '2026-01-01')")
            for series_id, doc_type, number_id, status in (
                    ("a", "invoice", 17, "registered"), ("b", "fees_note", 30, "not_applicable")):
                connection.exec_driver_sql(
                    "INSERT INTO series (id, account_id, sequence_pk, doc_type, number_id, "
                    f"last_number, at_status) VALUES ('{series_id}', 1, 1, '{doc_type}', "
                    f"{number_id}, 7, '{status}')")
        flask_migrate.upgrade()
        with db.engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT id, prefix, code, start, last_number, padding FROM series ORDER BY id"
            ).all()
        db.engine.dispose()
    assert rows == [("a", "FT 2024/", "FT 2024", 1, 7, 0), ("b", "2024/", "2024", 1, 7, 0)]


OLD_SERIES = "3fa85f64-5717-4562-b3fc-2c963f66afa6"


def _account_with_an_old_digest(url, api_key):
    """A database at 0006 whose account's key is stored as its plain SHA-256 (before 0007)."""
    import hashlib
    app = create_app(Settings(database_url=url))
    with app.app_context():
        flask_migrate.upgrade(revision="0006")
        with db.engine.begin() as connection:
            connection.exec_driver_sql(
                "INSERT INTO accounts (id, name, country, fiscal_id, tax_authority, "
                "api_key_hash, created_at) VALUES (1, 'acme', 'ES', 'B12345678', 'none', "
                f"'{hashlib.sha256(api_key.encode()).hexdigest()}', '2026-01-01')")
            connection.exec_driver_sql(
                "INSERT INTO series (id, account_id, last_number, start, prefix, padding, "
                "suffix, at_status, created_at, updated_at) VALUES "
                f"('{OLD_SERIES}', 1, 0, 1, '', 0, '', 'not_applicable', '2026-01-01', "
                "'2026-01-01')")
        db.engine.dispose()


def _stored_digest(app):
    with app.app_context():
        return db.session.execute(db.text("SELECT api_key_hash FROM accounts")).scalar()


@pytest.mark.parametrize("secret_at_migration", [True, False])
def test_old_key_digests_become_keyed_and_the_keys_keep_working(tmp_path, secret_at_migration):
    from .support.settings import TEST_SECRET
    url, api_key = f"sqlite:///{tmp_path}/keys.sqlite3", "a-short-imported-key"
    _account_with_an_old_digest(url, api_key)
    migrating = create_app(Settings(database_url=url,
                                    secret_key=TEST_SECRET if secret_at_migration else None))
    with migrating.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    assert _stored_digest(migrating).startswith("h1$") is secret_at_migration
    serving = create_app(Settings(database_url=url, secret_key=TEST_SECRET), TESTING=True)
    auth = {"Authorization": f"Bearer {api_key}"}
    # An entry first: its path checks the key in its own transaction (without a body) or
    # before reading its body.
    entry = serving.test_client().put(
        f"/sequence/v1/series/{OLD_SERIES}/entries/6fa85f64-5717-4562-b3fc-2c963f66afa6",
        headers=auth, json={"meta": {"n": "1"}} if secret_at_migration else None)
    assert entry.status_code == 200, entry.get_json()
    assert serving.test_client().get("/sequence/v1/series", headers=auth).status_code == 200
    assert _stored_digest(serving).startswith("h1$")  # converted on first use if not before
    assert serving.test_client().get("/sequence/v1/series", headers={
        "Authorization": "Bearer a-short-imported-kez"}).status_code == 401
    with serving.app_context():
        db.engine.dispose()
