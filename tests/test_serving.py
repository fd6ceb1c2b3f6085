"""What a client gets and what the log says when gunicorn itself answers, and when the
request is hostile (issue 18): JSON, one line per record, no secret in any line."""
import json
import re
import subprocess
import sys

import pytest
import requests
from gunicorn.config import Config

from invx.serving import SafeLogger, error_answer
from tests.support.raw_http import body_of, connect, head, read_until_closed, status_of

KEY = "0123456789abcdef0123456789abcdef01234567"


def _raw(server, data):
    sock = connect(server)
    try:
        sock.sendall(data)
        return read_until_closed(sock)[0]
    finally:
        sock.close()


@pytest.mark.live
def test_what_gunicorn_refuses_is_answered_in_json_and_logged_without_secrets(live_server, key):
    server = live_server(workers=1)
    answers = {
        400: _raw(server, b"NOT HTTP AT ALL\r\n\r\n"),
        414: _raw(server, head("GET", "/sequences.json?api_key=" + "a" * 9000)),
        431: _raw(server, head("GET", "/sequence/v1/keys", *[f"X-H{i}: v" for i in range(150)])),
    }
    for status, answer in answers.items():
        assert status_of(answer) == status
        assert b"application/json" in answer.partition(b"\r\n\r\n")[0]
        assert json.loads(body_of(answer))["code"]
    # Forged lines and secrets in the path, the query and the headers.
    requests.get(f"{server.url}/sequences.json%0A127.0.0.1%20%22GET%20/forged", timeout=5,
                 params={"api_key": key})
    requests.get(f"{server.url}/sequence/v1/series%00%1b[2J", timeout=5,
                 headers={"Authorization": f"Bearer {key}"})
    assert requests.get(f"{server.url}/sequence//v1/keys", timeout=5).status_code == 404
    server.stop()
    log = server.log_path.read_text()
    assert key not in log
    records = [json.loads(line) for line in log.splitlines()]  # no line of its own forged
    assert not any(r["event"].startswith('127.0.0.1 "GET /forged') for r in records)
    paths = [r.get("path") for r in records if r.get("logger") == "gunicorn.access"]
    assert '/sequences.json\n127.0.0.1 "GET /forged' in paths  # on the request's own line
    assert "\\n127.0.0.1" in log  # escaped
    assert "\x00" not in log and "\x1b" not in log


def test_gunicorn_error_lines_lose_the_key_and_stay_on_one_line(tmp_path):
    config = Config()
    config.set("errorlog", str(tmp_path / "error.log"))
    logger = SafeLogger(config)
    try:
        raise RuntimeError("boom\nsecond line")
    except RuntimeError:
        # What gunicorn's workers log when an exception escapes an app (base.py).
        logger.exception("Error handling request %s %s", "GET",
                         f"/sequences.json?api_key={KEY}\n[forged]")
    for handler in logger.error_log.handlers:
        handler.flush()
    written = (tmp_path / "error.log").read_text()
    assert KEY not in written
    assert written.count("\n") == 1
    record = json.loads(written)
    assert record["event"] == "Error handling request GET /sequences.json?api_key=[redacted]" \
        "\n[forged]"
    assert record["exception"].startswith("Traceback") and record["level"] == "error"


def test_gunicorns_own_answers_echo_nothing_of_the_request():
    answer = error_answer(400, "Bad Request")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert re.search(rb"\r\nX-Request-ID: [0-9a-f]{32}\r\n", answer)  # made, not echoed
    assert json.loads(body_of(answer)) == {"code": "bad_request",
                                           "message": "The request could not be read as HTTP."}


def _app_logs(tmp_path, log_format):
    """What create_app's root handler writes for an error of invx (stderr)."""
    script = ("import logging, sys\n"
              "from invx import create_app\n"
              "from invx.config import Settings\n"
              f"create_app(Settings(database_url='sqlite:///{tmp_path}/x.sqlite3', "
              f"log_format={log_format!r}))\n"
              "logging.getLogger('invx.errors').error('GET %s', '/x\\n/y?api_key=" + KEY + "')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=True)
    return result.stderr


def test_the_app_logs_through_the_safe_formatter(tmp_path):
    """Under gunicorn the root logger has no handler until create_app gives it one."""
    last = _app_logs(tmp_path, "json").splitlines()[-1]
    assert KEY not in last
    record = json.loads(last)
    assert (record["level"], record["logger"], record["event"]) == \
        ("error", "invx.errors", "GET /x\n/y?api_key=[redacted]")


def test_the_app_logs_text_through_the_safe_formatter(tmp_path):
    assert _app_logs(tmp_path, "text").endswith(
        "ERROR invx.errors: GET /x\\n/y?api_key=[redacted]\n")
