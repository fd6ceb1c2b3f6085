"""Start-up checks, as an operator meets them: ``invx ...`` and gunicorn run for real, each
refusal one line with the cause and the fix, exit status 1, no traceback, no secret."""
import contextlib
import os
import subprocess
import sys
import time

import pytest
import requests
from sqlalchemy.engine import make_url

from .support.live import ROOT, free_port
from .support.postgres import POSTGRES_URL, requires_postgres

OLD = "the-key-that-sealed-them-0123456789"
OTHER = "another-key-altogether-9876543210"
TIMEOUT = 90  # seconds a command may take on a busy machine


def _environment(instance, **env):
    """The test's own environment: no INVX_* of the machine's, an instance of its own."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("INVX_")}
    return {**base, "INVX_INSTANCE_PATH": str(instance), **env}


def invx(instance, *args, **env):
    return subprocess.run([sys.executable, "-m", "invx", *args], cwd=instance,
                          env=_environment(instance, **env), capture_output=True, text=True,
                          timeout=TIMEOUT, check=False)


def gunicorn(instance, **env):
    # Text lines, read as a person reads them (a refusal is one JSON line the same way).
    env = {"INVX_BIND": f"127.0.0.1:{free_port()}", "INVX_WORKERS": "1",
           "INVX_LOG_FORMAT": "text", **env}
    return subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                          cwd=ROOT, env=_environment(instance, **env), capture_output=True,
                          text=True, timeout=TIMEOUT, check=False)


def refusal(result, *secrets):
    """The one line a refused start wrote (gunicorn's own "Starting" line aside)."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines()
             if line.strip() and "Starting gunicorn" not in line]
    assert len(lines) == 1, output
    for secret in secrets:
        assert secret not in output
    return lines[0]


@pytest.fixture(scope="module")
def sealed_instance(tmp_path_factory):
    """An instance whose embedded database holds a signing key sealed with OLD."""
    instance = tmp_path_factory.mktemp("sealed")
    for args in (("db", "upgrade"), ("keys", "rotate")):
        result = invx(instance, *args, INVX_SECRET_KEY=OLD)
        assert result.returncode == 0, result.stderr
    return instance


@pytest.mark.parametrize(("variable", "value", "says", "args"), [
    ("INVX_LOG_LEVEL", "verbose", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
     ("accounts", "list")),
    ("INVX_DB_POOL_SIZE", "abc", "must be an integer", ("db", "upgrade")),
    ("INVX_SECRET_KEY", "short", "must be at least 16 characters", ("verify", "a", "b")),
])
def test_a_bad_setting_is_refused_naming_the_variable(tmp_path, variable, value, says, args):
    line = refusal(invx(tmp_path, *args, **{variable: value}))
    assert line.startswith(f"Error: {variable} {says}")


def test_an_unreachable_database_is_one_line_without_its_password(tmp_path):
    url = f"postgresql://invx:hunter2-password@127.0.0.1:{free_port()}/invx"
    line = refusal(invx(tmp_path, "accounts", "list", INVX_DATABASE_URL=url), "hunter2")
    assert "127.0.0.1" in line and "Connection refused" in line
    assert "start PostgreSQL" in line


@requires_postgres
@pytest.mark.postgres
@pytest.mark.parametrize("args", [("accounts", "list"), ("db", "upgrade")])
def test_a_missing_role_says_how_to_create_it(tmp_path, args):
    url = make_url(POSTGRES_URL).set(username="invx_no_such_role", password="pw-not-shown")
    line = refusal(invx(tmp_path, *args, INVX_DATABASE_URL=url.render_as_string(False)),
                   "pw-not-shown")
    assert 'role "invx_no_such_role" does not exist' in line
    assert "createuser invx_no_such_role" in line


def test_a_database_not_migrated_says_invx_db_upgrade(tmp_path):
    line = refusal(invx(tmp_path, "accounts", "list", INVX_SECRET_KEY=OTHER), OTHER)
    assert "is not migrated" in line and "`invx db upgrade`" in line


def test_sealed_secrets_without_the_key_are_refused(sealed_instance):
    line = refusal(invx(sealed_instance, "accounts", "list"))
    assert "INVX_SECRET_KEY is not set" in line and "1 sealed secrets" in line


def test_sealed_secrets_another_key_cannot_open_are_refused(sealed_instance):
    line = refusal(invx(sealed_instance, "accounts", "list", INVX_SECRET_KEY=OTHER),
                   OTHER, OLD)
    assert "INVX_SECRET_KEY cannot open the secrets" in line
    assert "set the old key back" in line
    assert "INVX_SECRET_KEY_PREVIOUS and run `invx secrets rotate`" in line


def test_the_previous_key_lets_commands_run(sealed_instance):
    result = invx(sealed_instance, "accounts", "list", INVX_SECRET_KEY=OTHER,
                  INVX_SECRET_KEY_PREVIOUS=OLD)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("args", [("--help",), ("accounts", "--help"), ("db", "upgrade")])
def test_help_version_and_migrations_need_no_key(sealed_instance, args):
    result = invx(sealed_instance, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.live
def test_the_server_refuses_a_bad_setting(tmp_path):
    line = refusal(gunicorn(tmp_path, INVX_LOG_LEVEL="verbose"))
    assert "ERROR gunicorn.error: invx cannot start: INVX_LOG_LEVEL must be one of" in line


@pytest.mark.live
def test_the_server_refuses_a_database_not_migrated(tmp_path):
    line = refusal(gunicorn(tmp_path, INVX_SECRET_KEY=OTHER), OTHER)
    assert "invx cannot start: the database" in line and "`invx db upgrade`" in line


@pytest.mark.live
@pytest.mark.parametrize(("env", "says"), [
    ({}, "INVX_SECRET_KEY is not set"),
    ({"INVX_SECRET_KEY": OTHER}, "INVX_SECRET_KEY cannot open the secrets"),
])
def test_the_server_refuses_secrets_it_cannot_open(sealed_instance, env, says):
    line = refusal(gunicorn(sealed_instance, **env), OTHER, OLD)
    assert f"ERROR gunicorn.error: invx cannot start: {says}" in line


@pytest.mark.live
def test_the_server_without_a_key_and_nothing_sealed_starts_with_one_warning(tmp_path):
    assert invx(tmp_path, "db", "upgrade").returncode == 0
    port, log = free_port(), tmp_path / "gunicorn.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=ROOT,
            env=_environment(tmp_path, INVX_BIND=f"127.0.0.1:{port}", INVX_WORKERS="1"),
            stdout=output, stderr=subprocess.STDOUT)
        try:
            assert _answers(f"http://127.0.0.1:{port}/livez", process), log.read_text()
        finally:
            process.terminate()
            process.wait(timeout=30)
    text = log.read_text()
    assert text.count("INVX_SECRET_KEY is not set: entries will be refused") == 1, text
    assert "Traceback" not in text


def _answers(url, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code == 200:
                return True
        time.sleep(0.2)
    return False
