"""deploy/container: the image runs the package's commands as a user without privileges,
its entrypoint upgrades the schema before gunicorn, and compose keeps secrets out."""
import json
import os
import subprocess
from pathlib import Path

import yaml

from invx.config import Settings

from .files import CONTAINER, ROOT, dockerfile, env_file, final_stage

ENTRYPOINT = CONTAINER / "entrypoint.sh"


def compose():
    return yaml.safe_load((CONTAINER / "compose.yaml").read_text())


def _one(instructions, keyword):
    found = [arguments for name, arguments in instructions if name == keyword]
    assert len(found) == 1, f"{keyword}: {found}"
    return found[0]


def test_the_image_is_python_311_slim_built_from_a_wheel_stage():
    instructions = dockerfile()
    assert instructions[0] == ("ARG", "PYTHON_IMAGE=python:3.11-slim")
    froms = [arguments for keyword, arguments in instructions if keyword == "FROM"]
    assert froms == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    built = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "pip wheel --no-cache-dir --no-deps --wheel-dir /wheels ." in built
    assert "-r requirements.txt" in built and "requirements-dev" not in built
    # The image takes the virtualenv, not the source tree.
    copies = [arguments for keyword, arguments in final_stage(instructions) if keyword == "COPY"]
    assert copies == ["--from=build /opt/invx/venv /opt/invx/venv",
                      "deploy/container/entrypoint.sh /usr/local/bin/invx-entrypoint"]


def test_the_image_serves_on_8000_as_invx_and_is_healthy_when_ready():
    image = final_stage(dockerfile())
    assert _one(image, "USER") == "invx"
    assert _one(image, "EXPOSE") == "8000"
    assert "INVX_BIND=0.0.0.0:8000" in _one(image, "ENV")
    health = _one(image, "HEALTHCHECK")
    assert "http://127.0.0.1:8000/readyz" in health
    assert json.loads(_one(image, "ENTRYPOINT")) == ["invx-entrypoint"]
    assert json.loads(_one(image, "CMD")) == ["gunicorn", "-c", "python:invx.gunicorn_config"]


def _stubs(tmp_path):
    """``invx`` and ``gunicorn`` that write what they were run with, in order."""
    calls = tmp_path / "calls"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("invx", "gunicorn"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $* key=${{INVX_SECRET_KEY:-}}" >> {calls}\n')
        stub.chmod(0o755)
    return bin_dir, calls


def _entrypoint(tmp_path, *command, **environ):
    bin_dir, calls = _stubs(tmp_path)
    environment = {"PATH": f"{bin_dir}:/usr/bin:/bin", **environ}
    run = subprocess.run(["/bin/sh", str(ENTRYPOINT), *command], env=environment,
                         capture_output=True, text=True, timeout=30)
    return run, calls.read_text().splitlines() if calls.exists() else []


def test_the_entrypoint_upgrades_the_schema_then_runs_gunicorn(tmp_path):
    run, calls = _entrypoint(tmp_path, "gunicorn", "-c", "python:invx.gunicorn_config")
    assert run.returncode == 0, run.stderr
    assert calls == ["invx db upgrade key=", "gunicorn -c python:invx.gunicorn_config key="]


def test_the_entrypoint_runs_another_command_as_is(tmp_path):
    run, calls = _entrypoint(tmp_path, "invx", "accounts", "list")
    assert run.returncode == 0, run.stderr
    assert calls == ["invx accounts list key="]


def test_the_entrypoint_reads_the_secret_key_from_its_file(tmp_path):
    secret = tmp_path / "invx_secret_key"
    secret.write_text("the-key-from-a-secret-file\n")
    run, calls = _entrypoint(tmp_path, "gunicorn", "-c", "python:invx.gunicorn_config",
                             INVX_SECRET_KEY_FILE=str(secret))
    assert run.returncode == 0, run.stderr
    assert calls == ["invx db upgrade key=the-key-from-a-secret-file",
                     "gunicorn -c python:invx.gunicorn_config key=the-key-from-a-secret-file"]


def test_an_unreadable_secret_file_stops_the_start_with_one_line(tmp_path):
    run, calls = _entrypoint(tmp_path, "gunicorn", INVX_SECRET_KEY_FILE="/nonexistent/key")
    assert run.returncode == 2
    assert calls == []
    assert run.stderr.splitlines() == [
        "invx-entrypoint: INVX_SECRET_KEY_FILE names /nonexistent/key, which cannot be read: "
        "mount the secret there"]


def test_compose_runs_invx_postgresql_15_and_redis_7_in_order_of_health():
    services = compose()["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["invx"]["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                              "redis": {"condition": "service_healthy"}}
    assert all("healthcheck" in services[name] for name in ("postgres", "redis"))
    assert services["invx"]["build"] == {"context": "../..",
                                         "dockerfile": "deploy/container/Dockerfile"}
    assert services["invx"]["stop_grace_period"] == "35s"
    assert "postgres-data:/var/lib/postgresql/data" in services["postgres"]["volumes"]


def test_compose_gives_secrets_as_files_never_as_values():
    document = compose()
    environment = document["services"]["invx"]["environment"]
    assert "INVX_SECRET_KEY" not in environment
    assert environment["INVX_SECRET_KEY_FILE"] == "/run/secrets/invx_secret_key"
    assert environment["PGPASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "@" in environment["INVX_DATABASE_URL"]
    assert ":" not in environment["INVX_DATABASE_URL"].split("//")[1].split("@")[0]
    for secret in document["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = set((ROOT / ".gitignore").read_text().splitlines())
    assert {"deploy/container/secrets/", "deploy/container/invx.env"} <= ignored  # by git
    Settings.from_environment({name: value for name, value in environment.items()
                               if name.startswith("INVX_") and not name.endswith("_FILE")})


def test_the_compose_env_example_sets_nothing():
    variables, shown = env_file(CONTAINER / "invx.env.example")
    assert variables == {}
    assert "INVX_SECRET_KEY" not in shown


def test_the_build_context_leaves_out_the_virtualenv_and_secrets():
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert {".git", ".venv", "instance", "deploy/container/secrets"} <= set(ignored)
    assert os.access(ENTRYPOINT, os.X_OK)  # COPY keeps the mode: git must too
    assert Path(ENTRYPOINT).read_text().startswith("#!/bin/sh\n")
