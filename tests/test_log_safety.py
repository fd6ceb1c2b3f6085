"""Log lines: one per record, no secret in any, a traceback per cause per minute (issue 18)."""
import io
import logging

import pytest

from invx.log_safety import SafeFormatter, TracebackThrottle, escape_controls, one_line, redact

KEY = "0123456789abcdef0123456789abcdef01234567"
PEM = ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQ\n"
       "-----END PRIVATE KEY-----")


@pytest.mark.parametrize("text", [
    f"Error handling request GET /sequences.json?api_key={KEY}",
    f"GET /sequences.json?x=1&api_key={KEY}&y=2",
    f"GET /sequences.json?API_KEY%3D{KEY}",
    f"Authorization: Bearer {KEY}",
    f"{{'api_key': '{KEY}'}}",
    f'{{"password": "{KEY}"}}',
    f"postgresql://invx:{KEY}@db.example.com/invx",
    f"<wsse:Password Type=\"...#PasswordText\">{KEY}</wsse:Password>",
    f"secret_key={KEY}",
    f"GET  /sequences.json?api%5Fkey={KEY} HTTP/1.1",  # a raw request line
    f"GET /sequence/v1/series/Bearer+{KEY}",  # a decoded path
    f"GET /sequence/v1/series/Bearer%20{KEY}",
    f"/sequences.json&access_token={KEY}",
    f"/sequences.json&api_key%20=%20{KEY}",
    f"/x&token={KEY}",
    f"/x&key={KEY}",
    f"{KEY}( / HTTP/1.1",  # a bare key of invx's shape
])
def test_secrets_are_masked(text):
    masked = redact(text)
    assert KEY not in masked
    assert "[redacted]" in masked


def test_a_private_key_is_masked_whole():
    masked = redact(f"sealed: {PEM} done")
    assert "MIIE" not in masked and "BKcw" not in masked
    assert masked == "sealed: [redacted private key] done"
    assert "MIIE" not in redact(PEM.rsplit("-----END", 1)[0])  # cut short, still masked


def test_control_characters_are_escaped():
    escaped = escape_controls("a\nb\r\x00c\x1b[31m\u2028d\x85")
    assert escaped == "a\\nb\\r\\x00c\\x1b[31m\\u2028d\\x85"
    assert escape_controls("Olá, São Tomé €") == "Olá, São Tomé €"


def test_a_record_is_one_line_with_its_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(message)s"))
    log = logging.getLogger("tests.log_safety")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise ValueError(f"bad api_key={KEY}\nforged line")
        except ValueError:
            log.exception("GET /x\nINFO forged record")
    finally:
        log.removeHandler(handler)
    written = stream.getvalue()
    assert written.count("\n") == 1  # the record's own end of line, nothing else
    assert KEY not in written
    assert "\\nINFO forged record" in written and "Traceback" in written


def test_one_traceback_per_cause_per_period():
    now = [0.0]
    throttle = TracebackThrottle(period=60, clock=lambda: now[0])

    def fail(kind):
        try:
            raise kind("down")
        except kind as error:
            return error

    first, again, other = fail(ConnectionError), fail(ConnectionError), fail(TimeoutError)
    assert throttle.exc_info(first) is first
    assert throttle.exc_info(again) is False
    assert throttle.exc_info(other) is other  # another cause
    now[0] = 61
    assert throttle.exc_info(again) is again


def test_one_line_is_the_type_and_the_first_line():
    assert one_line(ValueError("first\nsecond")) == "ValueError: first"
    assert one_line(KeyError()) == "KeyError"


def test_a_long_message_is_cut():
    import io
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(message)s"))
    handler.emit(logging.LogRecord("invx", logging.INFO, __file__, 1,
                                   "refused serie %s", ("A" * 100_000,), None))
    written = stream.getvalue()
    assert len(written) < 2100
    assert written.endswith(f"... ({len('refused serie ') + 100_000 - 2000} more characters)\n")
