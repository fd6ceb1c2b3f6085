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
          "signing_keys", "verification_checkpoints", "alembic_version"}


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
])
def test_postgres_urls_use_psycopg2(url, expected):
    from invx.config import database_url
    assert database_url(url) == expected


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
