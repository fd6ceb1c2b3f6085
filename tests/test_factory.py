"""The app factory and its settings, read once from ``INVX_*`` variables."""
import dataclasses

import pytest
import requests

from invx import create_app
from invx.config import ConfigError, Settings, current, settings_of
from invx.extensions import db


def test_flask_config_is_applied(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/a.db"), TESTING=True)
    assert app.testing


def test_the_app_keeps_the_settings_it_was_made_with(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path}/a.db", max_body_bytes=4096)
    app = create_app(settings)
    assert settings_of(app) is settings
    assert app.config["MAX_CONTENT_LENGTH"] == 4096
    with app.app_context():
        assert current() is settings


def test_default_database_is_sqlite_in_the_instance_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("INVX_DATABASE_URL", raising=False)
    monkeypatch.setenv("INVX_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{tmp_path}/instance/invx.sqlite3")
    assert (tmp_path / "instance").is_dir()


def test_environment_variables_override_the_defaults():
    settings = Settings.from_environment({
        "INVX_DATABASE_URL": "postgresql://invx@db/invx",
        "INVX_LOG_LEVEL": "debug",
        "INVX_REGISTRATION_LEASE_SECONDS": "300",
        "INVX_SANDBOX_LATENCY": "0.25",
        "INVX_MAX_BODY_BYTES": "4096",
        "INVX_AT_TRANSACTION_GUARD": "RAISE",
        "INVX_RESUME_CHECK_SECONDS": "0",
        "INVX_UNRELATED": "ignored",
        "DATABASE_URL": "not ours",
    })
    assert settings == Settings(
        database_url="postgresql+psycopg2://invx@db/invx", log_level="DEBUG",
        registration_lease_seconds=300, sandbox_latency=0.25, max_body_bytes=4096,
        at_transaction_guard="raise", resume_check_seconds=0)


def test_every_setting_has_one_variable_and_one_default():
    variables = [field.metadata["variable"] for field in dataclasses.fields(Settings)]
    assert len(variables) == len(set(variables))
    assert Settings.from_environment({}) == Settings()


def test_settings_cannot_be_changed_in_place():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings().secret_key = "changed"


def test_each_process_keeps_the_database_connections_it_is_told(tmp_path, monkeypatch):
    monkeypatch.setenv("INVX_DB_POOL_SIZE", "7")
    monkeypatch.setenv("INVX_DATABASE_URL", f"sqlite:///{tmp_path}/a.db")
    app = create_app()
    with app.app_context():
        assert db.engine.pool.size() == 7
    memory = create_app(Settings(database_url="sqlite://"))  # one shared connection
    with memory.app_context(), db.engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1


def test_settings_given_in_code_follow_the_variables_rules():
    assert Settings(database_url="postgres://invx@db/invx").database_url == (
        "postgresql+psycopg2://invx@db/invx")
    with pytest.raises(ConfigError, match="at_transaction_guard"):
        Settings(at_transaction_guard="sometimes")


def test_settings_never_show_the_secret_key_or_the_database_password():
    shown = repr(Settings(database_url="postgresql://invx:hunter2@db/invx",
                          secret_key="a-very-secret-key-indeed"))
    assert "hunter2" not in shown and "a-very-secret-key-indeed" not in shown
    assert "secret_key='***'" in shown and "invx:***@db" in shown


@pytest.mark.parametrize("key", ["INVX_SECRET_KEY", "SQLALCHEMY_DATABASE_URI",
                                 "MAX_CONTENT_LENGTH"])
def test_flask_config_may_not_set_what_the_settings_own(tmp_path, key):
    with pytest.raises(ConfigError, match=key):
        create_app(Settings(database_url=f"sqlite:///{tmp_path}/a.db"), **{key: "x"})


def test_scripts_installed_before_the_commands_moved_still_run():
    from invx.cli import main as old_entry_point
    from invx.commands import main
    assert old_entry_point is main


def test_empty_variables_are_ignored():
    assert Settings.from_environment({"INVX_DATABASE_URL": ""}) == Settings()


@pytest.mark.parametrize("name, value", [
    ("INVX_REGISTRATION_LEASE_SECONDS", "soon"),
    ("INVX_REGISTRATION_LEASE_SECONDS", "1"),
    ("INVX_SANDBOX_LATENCY", "-1"),
    ("INVX_MAX_BODY_BYTES", "12"),
    ("INVX_DB_POOL_SIZE", "0"),
    ("INVX_AT_TRANSACTION_GUARD", "sometimes"),
    ("INVX_RESUME_CHECK_SECONDS", "-1"),
])
def test_bad_values_are_refused_with_the_variables_name(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_environment({name: value})


def test_tests_cannot_reach_beyond_this_machine():
    with pytest.raises(requests.ConnectionError, match="loopback"):
        requests.get("https://acme.app.invoicexpress.com/sequences.json", timeout=2)
