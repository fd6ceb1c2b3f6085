"""Log lines as JSON (or text) and request ids (issue 19): the formatter, the middleware,
the ids a client sees, the setting."""
import io
import json
import logging
import re
from datetime import timedelta

import pytest

from invx import logs
from invx.config import ConfigError, Settings

from .support.sequence_service import API, put_entry, put_series

KEY = "0123456789abcdef0123456789abcdef01234567"
PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
GENERATED = re.compile(r"[0-9a-f]{32}")


def _logged(log_format, emit):
    """What ``emit(logger)`` writes through ``logs.formatter(log_format)``."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter(log_format))
    log = logging.getLogger("tests.logs")
    log.addHandler(handler)
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        emit(log)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_a_record_is_one_json_object_with_its_fields():
    line = _logged("json", lambda log: log.warning("refused %s", "serie 2026"))
    assert line.count("\n") == 1
    record = json.loads(line)
    assert list(record)[:3] == ["time", "level", "event"]
    assert (record["level"], record["event"], record["logger"]) == \
        ("warning", "refused serie 2026", "tests.logs")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z", record["time"])  # UTC


def test_a_json_line_has_no_secret_no_raw_control_and_its_traceback_in_exception():
    def emit(log):
        try:
            raise ValueError(f"bad api_key={KEY}\nforged line {PEM}")
        except ValueError:
            log.exception("GET /x?api_key=%s\nINFO forged record\x1b[2J\x85\u2028", KEY)

    line = _logged("json", emit)
    assert line.count("\n") == 1
    assert not re.search(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]", line[:-1])
    assert KEY not in line and "MIIE" not in line
    record = json.loads(line)
    assert record["event"].startswith("GET /x?api_key=[redacted]\nINFO forged record")
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "ValueError: bad api_key=[redacted]" in record["exception"]
    assert "[redacted private key]" in record["exception"]


def test_a_structlog_line_has_its_fields_and_those_named_as_secrets_masked(app):
    import structlog
    line = _logged("json", lambda log: structlog.wrap_logger(
        log, processors=structlog.get_config()["processors"]).info(
            "entry", series="S", number=3, api_key="x" * 40, aws_secret="s3", note=f"k={KEY}"))
    record = json.loads(line)
    assert (record["event"], record["series"], record["number"]) == ("entry", "S", 3)
    assert record["api_key"] == record["aws_secret"] == "[redacted]"
    assert KEY not in line and "x" * 40 not in line


def test_a_long_message_is_cut_in_json_too():
    line = _logged("json", lambda log: log.info("refused serie %s", "A" * 100_000))
    assert len(line) < 2200
    assert json.loads(line)["event"].endswith(
        f"... ({len('refused serie ') + 100_000 - 2000} more characters)")


def test_a_text_line_is_todays_shape_with_the_time_and_the_request_id():
    def emit(log):
        logs._request.set({"request_id": "req-1"})
        try:
            log.error("GET %s", f"/x\n/y?api_key={KEY}")
        finally:
            logs._request.set(None)

    line = _logged("text", emit)
    assert re.fullmatch(r"\S+Z ERROR tests\.logs: GET /x\\n/y\?api_key=\[redacted\] "
                        r"request_id=req-1\n", line), line


@pytest.mark.parametrize("value, kept", [
    ("abc", True), ("3fa85f64-5717-4562-b3fc-2c963f66afa6", True), ("a.b:c_d-1", True),
    ("x" * 128, True), ("x" * 129, False), ("", False), (None, False),
    ("has space", False), ("new\nline", False), ("quote\"", False), ("é", False),
    (KEY, False),  # invx's key shape: never echoed into a log line as an id
    ("api_key=abc", False),
])
def test_a_request_id_is_kept_only_when_sane(value, kept):
    assert logs.sane_request_id(value) == (value if kept else None)


def _tiny_app(environ, start_response):
    logs.note(account="acme", series="S", number=7)
    logging.getLogger("tests.logs.app").info("inside")
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Request-ID", "forged")])
    return [b"ok"]


def test_every_line_of_a_request_and_its_access_fields_carry_its_id_and_notes():
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/p", "QUERY_STRING": f"api_key={KEY}",
               "HTTP_X_REQUEST_ID": "client-id-1", "REMOTE_ADDR": "127.0.0.1"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("json"))
    log = logging.getLogger("tests.logs.app")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        logs.RequestIds(_tiny_app)(environ, start_response)
    finally:
        log.removeHandler(handler)
        logs._request.set(None)
    assert [value for name, value in started["headers"] if name.lower() == "x-request-id"] \
        == ["client-id-1"]  # the app's own is replaced
    record = json.loads(stream.getvalue())
    assert (record["request_id"], record["account"], record["series"], record["number"]) == \
        ("client-id-1", "acme", "S", 7)
    fields = logs.access_fields("200 OK", 2, environ, timedelta(milliseconds=1.5))
    assert fields == {"method": "GET", "path": "/p", "status": 200, "duration_ms": 1.5,
                      "bytes": 2, "remote": "127.0.0.1", "request_id": "client-id-1",
                      "account": "acme", "series": "S", "number": 7}


@pytest.mark.parametrize("path", ["/sequence/v1/series/S/entries/E", f"/sequences/{KEY}.json"])
def test_an_access_line_rendered_straight_is_the_formatters_own(path):
    """``access_line`` is a shortcut for the formatter's chain: the same fields, in the same
    order, redacted alike (a key in the path masked); only the time may differ."""
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": path, "REMOTE_ADDR": "127.0.0.1",
               logs.FIELDS: {"request_id": "client-id-1", "account": "acme"}}
    fields = logs.access_fields("200 OK", 681, environ, timedelta(milliseconds=1.5))
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 0, "request", (),
                               None)
    record.__dict__.update(fields)
    long_way = json.loads(logs.formatter("json").format(record))
    straight = json.loads(logs.access_line(fields, "gunicorn.access"))
    assert list(straight) == list(long_way)
    assert {**straight, "time": None} == {**long_way, "time": None}
    assert KEY not in json.dumps(straight)
    record.__dict__[logs.RENDERED] = "as it is"
    assert logs.formatter("json").format(record) == "as it is"


def _ids(response):
    return response.headers.getlist("X-Request-ID")


def test_the_request_id_is_echoed_or_made_on_every_answer(client, es_key, key):
    auth = {"Authorization": f"Bearer {es_key}"}
    answers = [
        client.get(f"{API}/series", headers={**auth, "X-Request-ID": "ok-1"}),  # 200
        client.get(f"{API}/series", headers={"X-Request-ID": "ok-2"}),  # 401
        client.get(f"{API}/nothing", headers={"X-Request-ID": "ok-3"}),  # the JSON 404
        client.get("/sequences.json?api_key=wrong", headers={"X-Request-ID": "ok-4"}),
        client.get("/livez", headers={"X-Request-ID": "ok-5"}),
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 401, 200]
    assert [_ids(a) for a in answers] == [["ok-1"], ["ok-2"], ["ok-3"], ["ok-4"], ["ok-5"]]
    made = [client.get("/livez"), client.get("/livez", headers={"X-Request-ID": "bad id"}),
            client.get(f"{API}/series", headers={"X-Request-ID": KEY})]
    ids = [_ids(a)[0] for a in made]
    assert all(GENERATED.fullmatch(i) for i in ids) and len(set(ids)) == 3


def test_an_issued_entry_notes_its_account_series_and_number(app, client, es_key, monkeypatch):
    noted = []
    monkeypatch.setattr(logs, "note", lambda **fields: noted.append(fields))
    auth = {"Authorization": f"Bearer {es_key}"}
    assert put_series(client, auth).status_code == 200
    entry = put_entry(client, auth).get_json()
    assert {"account": "acme-es"} in noted  # the series' PUT, authenticated
    assert noted[-1] == {"account": "acme-es", "series": entry["series_id"],
                         "number": 1}


def test_the_log_format_setting_names_the_variable_and_the_accepted_values():
    assert Settings.from_environment({}).log_format == "json"
    assert Settings.from_environment({"INVX_LOG_FORMAT": "TEXT"}).log_format == "text"
    with pytest.raises(ConfigError) as refused:
        Settings.from_environment({"INVX_LOG_FORMAT": "xml"})
    assert str(refused.value) == "INVX_LOG_FORMAT must be one of json, text, not 'xml'"
    assert Settings.one_from_environment("log_format", {"INVX_LOG_FORMAT": "text"}) == "text"
    with pytest.raises(ConfigError):
        Settings(log_format="xml")
