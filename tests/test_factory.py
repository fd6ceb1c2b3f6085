"""The app factory and its configuration from ``INVX_*`` variables."""
import pytest
import requests

from invx import create_app
from invx.config import ConfigError, from_environment


def test_testing_config_is_applied(tmp_path):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.db"})
    assert app.testing


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("INVX_DATABASE_URL", raising=False)
    monkeypatch.setenv("INVX_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{tmp_path}/instance/invx.sqlite3")
    assert (tmp_path / "instance").is_dir()


def test_environment_variables_override_the_defaults():
    settings = from_environment({
        "INVX_DATABASE_URL": "postgresql://invx@db/invx",
        "INVX_LOG_LEVEL": "debug",
        "INVX_REGISTRATION_LEASE_SECONDS": "300",
        "INVX_SANDBOX_LATENCY": "0.25",
        "INVX_MAX_BODY_BYTES": "4096",
        "INVX_UNRELATED": "ignored",
        "DATABASE_URL": "not ours",
    })
    assert settings == {
        "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg2://invx@db/invx",
        "INVX_LOG_LEVEL": "DEBUG",
        "INVX_REGISTRATION_LEASE_SECONDS": 300,
        "INVX_SANDBOX_LATENCY": 0.25,
        "MAX_CONTENT_LENGTH": 4096,
    }


def test_each_process_keeps_the_database_connections_it_is_told(tmp_path, monkeypatch):
    monkeypatch.setenv("INVX_DB_POOL_SIZE", "7")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/a.db"})
    with app.app_context():
        from invx.extensions import db
        assert db.engine.pool.size() == 7
    memory = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})  # one shared connection
    with memory.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_empty_variables_are_ignored():
    assert from_environment({"INVX_DATABASE_URL": ""}) == {}


@pytest.mark.parametrize("name, value", [
    ("INVX_REGISTRATION_LEASE_SECONDS", "soon"),
    ("INVX_REGISTRATION_LEASE_SECONDS", "1"),
    ("INVX_SANDBOX_LATENCY", "-1"),
    ("INVX_MAX_BODY_BYTES", "12"),
    ("INVX_DB_POOL_SIZE", "0"),
])
def test_bad_values_are_refused_with_the_variables_name(name, value):
    with pytest.raises(ConfigError, match=name):
        from_environment({name: value})


def test_tests_cannot_reach_beyond_this_machine():
    with pytest.raises(requests.ConnectionError, match="loopback"):
        requests.get("https://acme.app.invoicexpress.com/sequences.json", timeout=2)
