"""Migrations: upgrade from an empty database on SQLite and PostgreSQL, matching the models."""
import flask_migrate
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from invx import create_app
from invx.extensions import db

from .conftest import (
    create_postgres_schema,
    drop_postgres_schema,
    postgres_schema_url,
    requires_postgres,
)

TABLES = {"accounts", "sequences", "series", "sandbox_series", "at_calls", "entries",
          "signing_keys", "alembic_version"}


def upgrade_and_check(url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
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

    from invx.cli import main
    monkeypatch.setenv("INVX_DATABASE_URL", f"sqlite:///{tmp_path}/cli.sqlite3")
    result = CliRunner().invoke(main, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    app = create_app()
    with app.app_context():
        assert "accounts" in inspect(db.engine).get_table_names()
        db.engine.dispose()


def test_the_app_never_creates_tables_by_itself(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/untouched.sqlite3"})
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
