"""gunicorn's own lines and its access lines, from a live server (issue 19): every line JSON,
one access line per request with its id, account, series and number, no query string."""
import json
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from .support.live import ROOT

pytestmark = pytest.mark.live
API = "/sequence/v1"


def _lines(server):
    server.stop()
    lines = server.log_path.read_text().splitlines()
    assert lines
    return lines


def _access(records, request_id):
    found = [r for r in records if r.get("logger") == "gunicorn.access"
             and r.get("request_id") == request_id]
    assert len(found) == 1, found  # one access line per request
    return found[0]


def test_every_line_is_json_and_each_request_has_one_access_line(live_server, key, es_key):
    server = live_server(workers=1)
    auth = {"Authorization": f"Bearer {es_key}"}
    series_id = str(uuid.uuid4())
    created = requests.put(f"{server.url}{API}/series/{series_id}", timeout=10,
                           json={"name": "Sales", "prefix": "F-"},
                           headers={**auth, "X-Request-ID": "series-1"})
    assert created.status_code == 200, created.text
    entry = requests.put(f"{server.url}{API}/series/{series_id}/entries/{uuid.uuid4()}",
                         headers={**auth, "X-Request-ID": "entry-1"}, timeout=10)
    assert entry.status_code == 200 and entry.headers["X-Request-ID"] == "entry-1"
    listed = requests.get(f"{server.url}/sequences.json", params={"api_key": key}, timeout=10,
                          headers={"X-Request-ID": "list-1"})
    missing = requests.get(f"{server.url}{API}/nothing?api_key={key}", timeout=10)
    refused = requests.get(f"{server.url}{API}/series", timeout=10,
                           headers={"X-Request-ID": "bad id!"})
    assert (listed.status_code, missing.status_code, refused.status_code) == (200, 404, 401)
    lines = _lines(server)
    records = [json.loads(line) for line in lines]  # every line, gunicorn's own included
    assert key not in server.log_path.read_text() and "api_key" not in "".join(lines)
    booting = next(r for r in records if r["event"].startswith("Booting worker"))
    assert (booting["level"], booting["logger"]) == ("info", "gunicorn.error")
    assert all({"time", "level", "event"} <= set(r) for r in records)

    issued = _access(records, "entry-1")
    assert issued["event"] == "request"
    assert (issued["method"], issued["path"], issued["status"]) == \
        ("PUT", f"{API}/series/{series_id}/entries/{entry.json()['id']}", 200)
    assert (issued["account"], issued["series"], issued["number"]) == \
        ("acme-es", series_id, 1)
    assert isinstance(issued["duration_ms"], float) and issued["duration_ms"] > 0
    assert _access(records, "series-1")["account"] == "acme-es"
    sequences = _access(records, "list-1")
    assert (sequences["path"], sequences["account"]) == ("/sequences.json", "acme")
    no_page = _access(records, missing.headers["X-Request-ID"])
    assert (no_page["path"], no_page["status"]) == (f"{API}/nothing", 404)
    assert refused.headers["X-Request-ID"] != "bad id!"
    assert _access(records, refused.headers["X-Request-ID"])["status"] == 401


def test_requests_served_at_once_keep_their_own_ids_and_accounts(live_server, key, es_key):
    # One worker: its threads (SQLite) or greenlets (PostgreSQL, gevent) serve these at once;
    # each line must carry its own request's id and account, never a neighbour's.
    server = live_server(workers=1)
    calls = [(f"{API}/series", {"Authorization": f"Bearer {es_key}"}, "acme-es"),
             ("/sequences.json?api_key=" + key, {}, "acme")] * 20

    def call(numbered):
        number, (path, headers, _) = numbered
        return requests.get(server.url + path, timeout=30,
                            headers={**headers, "X-Request-ID": f"at-once-{number}"})

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(call, enumerate(calls)))
    assert [a.headers["X-Request-ID"] for a in answers] == \
        [f"at-once-{n}" for n in range(len(calls))]
    records = [json.loads(line) for line in _lines(server)]
    for number, (_, _, account) in enumerate(calls):
        assert _access(records, f"at-once-{number}")["account"] == account


def test_an_error_line_of_a_request_has_its_id_and_its_traceback_in_the_same_line(
        live_server, es_key, tmp_path):
    # A Host header gunicorn cannot route makes no error; an unreadable cursor is a 400
    # logged at info. The sure way to an error line with a traceback in a live server is
    # the database gone: the server starts on a migrated SQLite file (the start-up checks
    # want one), whose folder is then removed before the worker ever connects (no resume
    # check: nothing connects before the request).
    import shutil

    import flask_migrate

    from invx import create_app
    from tests.support.settings import suite_settings
    folder = tmp_path / "gone"
    folder.mkdir()
    url = f"sqlite:///{folder}/x.sqlite3"
    with create_app(suite_settings(url)).app_context():
        flask_migrate.upgrade()
    server = live_server(workers=1, INVX_DATABASE_URL=url, INVX_RESUME_CHECK_SECONDS="0")
    shutil.rmtree(folder)
    answer = requests.get(f"{server.url}{API}/series", timeout=10,
                          headers={"Authorization": f"Bearer {es_key}",
                                   "X-Request-ID": "down-1"})
    assert answer.status_code == 503 and answer.headers["X-Request-ID"] == "down-1"
    records = [json.loads(line) for line in _lines(server)]
    errors = [r for r in records if r.get("request_id") == "down-1" and r["level"] == "error"]
    assert errors and errors[0]["logger"] == "invx.errors"
    assert errors[0]["exception"].startswith("Traceback")
    assert _access(records, "down-1")["status"] == 503


def test_text_lines_have_the_time_and_the_request_id(live_server, key):
    server = live_server(workers=1, INVX_LOG_FORMAT="text")
    requests.get(f"{server.url}/sequences.json", params={"api_key": key}, timeout=10,
                 headers={"X-Request-ID": "text-1"})
    lines = _lines(server)
    access = [line for line in lines if "request_id=text-1" in line]
    assert len(access) == 1
    assert " INFO gunicorn.access: 127.0.0.1 \"GET /sequences.json HTTP/1.1\" 200 " in access[0]
    assert access[0][:4].isdigit() and access[0].split(" ", 1)[0].endswith("Z")
    assert key not in "".join(lines)


def test_a_bad_log_format_is_refused_in_one_line():
    environment = {**os.environ, "INVX_LOG_FORMAT": "xml", "INVX_BIND": "127.0.0.1:0"}
    result = subprocess.run([sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                            cwd=ROOT, env=environment, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "invx: INVX_LOG_FORMAT must be one of json, text, not 'xml'"]
