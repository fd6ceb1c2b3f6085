"""What ``invx`` offers an operator: its version, its own commands and invx's ``db``
commands only, exit statuses a script can tell apart, tables with headers, no .env."""
import json
import os
from importlib.metadata import version

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, text

from invx.commands import main
from invx.extensions import MIGRATIONS

INVX_COMMANDS = ["accounts", "at-log", "backup", "db", "demo", "export", "fake-at", "keys",
                 "registrations", "secrets", "sequences", "verify"]


@pytest.fixture
def invx_main(tmp_path, monkeypatch):
    """``invx`` as its console script runs it: the app made from the environment."""
    monkeypatch.setenv("INVX_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("INVX_DATABASE_URL", raising=False)

    def run(*args):
        return CliRunner().invoke(main, list(args))

    return run


def _commands(help_text):
    listed = help_text.split("Commands:\n", 1)[1].splitlines()
    return [line.split()[0] for line in listed if line.startswith("  ") and line.split()]


def test_version_is_invxs_from_the_package_metadata(invx_main):
    result = invx_main("--version")
    assert result.exit_code == 0
    assert result.output == f"invx {version('invx')}\n"
    assert "Flask" not in result.output


def test_help_lists_invxs_commands_only(invx_main):
    result = invx_main("--help")
    assert result.exit_code == 0
    assert _commands(result.output) == INVX_COMMANDS  # no run, shell, routes
    for flask_option in ("--app", "--env-file", "--debug"):
        assert flask_option not in result.output


def test_db_offers_the_operators_commands_only(invx_main):
    result = invx_main("db", "--help")
    assert _commands(result.output) == ["current", "downgrade", "history", "upgrade"]
    assert invx_main("db", "revision").exit_code == 2


def test_the_authoring_commands_stay_on_flasks_cli_for_developers(app):
    # `flask --app invx db revision|migrate` (make migration) reaches these.
    assert {"revision", "migrate", "edit"} <= set(app.cli.commands["db"].commands)


def test_db_upgrade_and_history_work_with_the_packaged_migrations(invx_main, tmp_path,
                                                                  monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the checkout: the migrations come with the package
    assert invx_main("db", "upgrade").exit_code == 0
    head = ScriptDirectory(MIGRATIONS).get_current_head()
    engine = create_engine(f"sqlite:///{tmp_path}/instance/invx.sqlite3")
    with engine.connect() as connection:
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == head
    engine.dispose()
    # Alembic prints to the sys.stdout it found when imported, out of click's reach; a
    # revision that cannot be loaded outside a migration (op.f at import) fails these.
    assert invx_main("db", "current").exit_code == 0
    assert invx_main("db", "history").exit_code == 0
    assert invx_main("accounts", "list").output.startswith("no accounts yet")


def test_no_env_file_is_read(invx_main, tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("INVX_FROM_DOTENV=1\nFLASK_APP=elsewhere\n")
    (tmp_path / ".flaskenv").write_text("INVX_FROM_FLASKENV=1\n")
    monkeypatch.chdir(tmp_path)
    for name in ("INVX_FROM_DOTENV", "INVX_FROM_FLASKENV", "FLASK_APP"):
        monkeypatch.delenv(name, raising=False)
    assert invx_main("--help").exit_code == 0
    assert invx_main("db", "current").exit_code == 0
    try:
        assert "INVX_FROM_DOTENV" not in os.environ
        assert "INVX_FROM_FLASKENV" not in os.environ
    finally:  # had it been read, the variables must not leak into the other tests
        for name in ("INVX_FROM_DOTENV", "INVX_FROM_FLASKENV", "FLASK_APP"):
            os.environ.pop(name, None)


@pytest.mark.parametrize("args", [("verify", "nobody", "1"), ("at-log", "nobody"),
                                  ("accounts", "rotate-key", "nobody"),
                                  ("sequences", "finish", "nobody", "2026"),
                                  ("registrations", "resume", "--account", "nobody")])
def test_an_unknown_account_exits_2_as_a_usage_error(invx, args):
    result = invx(*args)
    assert result.exit_code == 2
    assert "no account named 'nobody'" in result.output


def test_an_unknown_series_exits_2_a_broken_one_1(invx, make_account):
    make_account()
    result = invx("verify", "acme", "00000000-0000-4000-8000-000000000000")
    assert result.exit_code == 2
    assert "account acme has no series" in result.output


@pytest.mark.parametrize("command", [
    ("verify",), ("at-log",), ("accounts", "create"), ("accounts", "list"),
    ("accounts", "rotate-key"), ("accounts", "set-tax-authority"), ("sequences", "finish"),
    ("sequences", "annul"), ("registrations", "resume"), ("keys", "rotate"), ("keys", "list"),
    ("demo",), ("fake-at",), ("db",)])
def test_every_command_documents_its_exit_status(invx_main, command):
    assert "Exit status: 0" in invx_main(*command, "--help").output


def test_an_empty_at_log_says_so(invx, make_account):
    make_account()
    result = invx("at-log", "acme")
    assert result.exit_code == 0
    assert result.output == "no calls to the Tax Authority recorded for account acme\n"
    assert invx("at-log", "acme", "--json").output == ""


def test_keys_list_is_a_table_with_a_header_or_says_there_is_none(app, invx):
    from invx.extensions import db
    from invx.models import SigningKey
    with app.app_context():  # the server's keys outlive each test: start from none
        db.session.query(SigningKey).delete()
        db.session.commit()
    assert invx("keys", "list").output.startswith("no signing key yet")
    assert json.loads(invx("keys", "list", "--json").output) == {"keys": []}
    first = json.loads(invx("keys", "rotate").output)["kid"]
    second = json.loads(invx("keys", "rotate").output)["kid"]
    header, *rows = invx("keys", "list").output.splitlines()
    assert header.split() == ["KID", "CREATED", "ALG", "USE"]
    assert [row.split()[0] for row in rows] == [second, first]
    assert rows[0].endswith("signs") and rows[1].endswith("verifies")
    jwks = json.loads(invx("keys", "list", "--json").output)
    assert [key["kid"] for key in jwks["keys"]] == [second, first]
