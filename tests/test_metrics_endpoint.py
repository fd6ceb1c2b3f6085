"""GET /metrics answers only the bearer of INVX_METRICS_TOKEN, and gunicorn's hooks keep
the workers' metrics folder (prometheus_client's multiprocess mode)."""
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client.parser import text_string_to_metric_families

from invx import config, metrics
from invx.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def token(settings):
    settings(metrics_token=TOKEN)
    return TOKEN


def test_without_a_token_metrics_is_an_unknown_path(client):
    response, unknown = client.get("/metrics", headers=BEARER), client.get("/no-such-path")
    assert response.status_code == unknown.status_code == 404
    assert (response.content_type, response.data) == (unknown.content_type, unknown.data)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-0123456789abcdef",
                                           f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer "])
def test_a_missing_or_wrong_token_is_401_json(client, token, caplog, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    with caplog.at_level(logging.DEBUG):
        response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {
        "code": "unauthorized",
        "message": "GET /metrics needs INVX_METRICS_TOKEN as Bearer token."}
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert TOKEN not in caplog.text


def test_the_token_opens_the_metrics_in_the_prometheus_text_format(client, token):
    response = client.get("/metrics", headers=BEARER)  # no account key needed
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=")
    assert response.headers["Cache-Control"] == "no-store"
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {"invx_http_requests", "invx_http_request_duration_seconds",
            "invx_http_requests_in_progress", "invx_entries_issued",
            "invx_group_commit_batch_requests", "invx_group_commit_batch_duration_seconds",
            "invx_at_calls", "invx_at_call_duration_seconds", "invx_rate_limited_requests",
            "invx_unavailable_responses"} <= names


def test_metrics_are_not_rate_limited(other_app, es_key):
    client = other_app(rate_limit="1/minute", metrics_token=TOKEN).test_client()
    assert client.get("/sequence/v1/series",
                      headers={"Authorization": f"Bearer {es_key}"}).status_code == 200
    assert [client.get("/metrics", headers=BEARER).status_code for _ in range(3)] == [200] * 3


def test_the_token_is_a_secret_setting():
    with pytest.raises(ConfigError, match="INVX_METRICS_TOKEN must be at least 16") as error:
        Settings.from_environment({"INVX_METRICS_TOKEN": "short-secret"})
    assert "short-secret" not in str(error.value)
    with pytest.raises(ConfigError, match="INVX_METRICS_TOKEN"):
        Settings.from_environment({"INVX_METRICS_TOKEN": "with a space 0123456789"})
    assert TOKEN not in repr(Settings(metrics_token=TOKEN))


# gunicorn's hooks, called as its master calls them.

class Log:
    def __init__(self):
        self.lines = []

    def info(self, message, *args):
        self.lines.append(message % args)


@pytest.fixture
def master(monkeypatch):
    """A stand-in for gunicorn's arbiter; the hooks' environment is restored after."""
    for name in ("PROMETHEUS_MULTIPROC_DIR", "INVX_METRICS_DIR"):
        monkeypatch.setenv(name, "-")  # so that monkeypatch puts back its absence
        monkeypatch.delenv(name)
    return SimpleNamespace(log=Log())


def test_without_a_setting_the_master_makes_a_private_folder_and_removes_it(master):
    metrics.on_starting(master)
    directory = config.metrics_directory()
    assert os.path.basename(directory).startswith("invx-metrics-")
    assert oct(os.stat(directory).st_mode)[-3:] == "700"
    assert master.log.lines == [f"metrics of the workers kept in {directory}"]
    Path(directory, "counter_1.db").write_bytes(b"")
    metrics.on_exit(master)
    assert not os.path.exists(directory)
    assert config.metrics_directory() is None


def test_the_configured_folder_is_emptied_of_metrics_files_at_start_and_exit(
        master, monkeypatch, tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_99.db").write_bytes(b"old")
    (folder / "README").write_text("not prometheus_client's")
    monkeypatch.setenv("INVX_METRICS_DIR", str(folder))
    metrics.on_starting(master)
    assert config.metrics_directory() == str(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["README"]
    (folder / "histogram_7.db").write_bytes(b"")
    metrics.on_exit(master)
    assert sorted(p.name for p in folder.iterdir()) == ["README"]


def test_a_folder_that_cannot_be_used_stops_the_master_with_one_line(
        master, monkeypatch, tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    monkeypatch.setenv("INVX_METRICS_DIR", str(a_file))
    with pytest.raises(RuntimeError) as error:
        metrics.on_starting(master)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"invx: INVX_METRICS_DIR '{a_file}' cannot be used")
    assert config.metrics_directory() is None


def test_a_dead_workers_live_gauges_are_dropped_and_its_counts_kept(master, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setenv("INVX_METRICS_DIR", str(tmp_path))
    metrics.on_starting(master)
    for name in ("gauge_livesum_41.db", "counter_41.db", "histogram_41.db",
                 "gauge_livesum_42.db"):
        (tmp_path / name).write_bytes(b"")
    metrics.child_exit(master, SimpleNamespace(pid=41))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "counter_41.db", "gauge_livesum_42.db", "histogram_41.db"]
    metrics.on_exit(master)


def test_gunicorn_config_does_not_load_prometheus_client_in_the_master():
    """prometheus_client picks its mode when first imported: were gunicorn.conf.py to
    import it, the master (and every worker it forks) would count in one process only."""
    script = ("import runpy, sys; runpy.run_path('gunicorn.conf.py'); "
              "print('prometheus_client' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"


def test_a_worker_that_would_count_alone_says_so(monkeypatch, caplog, other_app, tmp_path):
    """The test process loaded prometheus_client without the folder, as a worker forked
    from a master that preloaded the app would have."""
    monkeypatch.setattr(config, "metrics_directory", lambda: str(tmp_path))
    with caplog.at_level(logging.ERROR, logger="invx.metrics"):
        other_app()
    assert "/metrics shows one worker's counts only" in caplog.text
