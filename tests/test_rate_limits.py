"""Per-account rate limits: 429 with Retry-After in each API's error shape, counted by the
authenticated account (never by a 401), in the process or, through Redis, across apps."""
import itertools
import logging
import uuid

import pytest

from invx import rate_limits
from invx.config import ConfigError, Settings
from invx.errors import RATE_LIMITED

from .support.invoicexpress import create
from .support.openapi import validate
from .support.redis import REDIS_URL, redis_or_skip
from .support.sequence_service import API, SALES, put_entry, put_series


def _bearer(key):
    return {"Authorization": f"Bearer {key}"}


def _sequences(client, key):
    return client.get(f"/sequences.json?api_key={key}")


def _assert_429(response):
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"


def test_no_limit_by_default():
    assert Settings().rate_limit is None and Settings.from_environment({}).rate_limit is None


def test_a_rate_limit_is_in_the_limits_notation():
    env = {"INVX_RATE_LIMIT": "100/minute"}
    assert Settings.from_environment(env).rate_limit == "100/minute"
    for bad in ("100", "a lot", "100/fortnight"):
        with pytest.raises(ConfigError, match="INVX_RATE_LIMIT"):
            Settings.from_environment({"INVX_RATE_LIMIT": bad})
    with pytest.raises(ConfigError, match="rate_limit"):
        Settings(rate_limit="100")
    with pytest.raises(ConfigError, match="INVX_REDIS_URL"):
        Settings.from_environment({"INVX_REDIS_URL": "127.0.0.1:6379"})


def test_the_redis_password_is_not_shown():
    shown = repr(Settings(redis_url="redis://:hunter2-secret@127.0.0.1:6379/0"))
    assert "hunter2-secret" not in shown and "redis://:***@127.0.0.1:6379/0" in shown


def test_the_invoicexpress_api_answers_429_in_its_error_shape(other_app, key):
    client = other_app(rate_limit="3/minute").test_client()
    assert [_sequences(client, key).status_code for _ in range(3)] == [200] * 3
    response = _sequences(client, key)
    _assert_429(response)
    assert response.get_json() == {"code": "000", "message": RATE_LIMITED}
    validate(client, "/sequences.json", "get", "429", response.get_json())
    register = client.put(f"/sequences/17/register.json?api_key={key}")
    _assert_429(register)
    assert register.get_json() == {"errors": {"code": "000", "message": RATE_LIMITED}}
    validate(client, "/sequences/{id}/register.json", "put", "429", register.get_json())


def test_the_sequence_service_answers_429_in_its_error_shape(other_app, client, es_key):
    limited = other_app(rate_limit="2/minute").test_client()
    auth = _bearer(es_key)
    put_series(limited, auth)
    assert put_entry(limited, auth).status_code == 200
    response = put_entry(limited, auth)
    _assert_429(response)
    assert response.get_json() == {"code": "too_many_requests",
                                   "message": RATE_LIMITED}
    validate(client, "/sequence/v1/series/{series_id}/entries/{id}", "put", "429",
             response.get_json())
    # The refused PUT wrote nothing.
    listed = client.get(f"{API}/series/{SALES}/entries", headers=auth).get_json()["list"]
    assert len(listed) == 1


def test_one_count_per_account_across_both_apis(other_app, make_account):
    client = other_app(rate_limit="4/minute").test_client()
    first = make_account("first", fiscal_id="123456789")
    second = make_account("second", fiscal_id="555555550")
    assert _sequences(client, first).status_code == 200
    assert client.get(f"{API}/series", headers=_bearer(first)).status_code == 200
    assert create(client, first, "2030").status_code == 201
    assert client.get(f"{API}/series/{uuid.uuid4()}", headers=_bearer(first)).status_code == 404
    _assert_429(client.get(f"{API}/series", headers=_bearer(first)))
    _assert_429(_sequences(client, first))
    assert _sequences(client, second).status_code == 200  # not by IP: the other account


def test_unauthenticated_requests_are_not_counted(other_app, key):
    client = other_app(rate_limit="2/minute").test_client()
    wrong = "wrong-key-0123456789abcdef"
    for _ in range(5):
        assert _sequences(client, wrong).status_code == 401
        assert client.get(f"{API}/series", headers=_bearer(wrong)).status_code == 401
        response = put_entry(client, _bearer(wrong))
        assert response.status_code == 401 and response.get_json()["code"] == "unauthorized"
    assert [_sequences(client, key).status_code for _ in range(3)] == [200, 200, 429]


def test_the_public_keys_and_the_openapi_document_are_not_limited(other_app, key):
    client = other_app(rate_limit="1/minute").test_client()
    for _ in range(5):
        assert client.get(f"{API}/keys").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_per_process_counting_is_warned_of_at_start(other_app, caplog):
    with caplog.at_level(logging.WARNING, logger="invx.rate_limits"):
        other_app(rate_limit="100/minute")
    assert "counted by each process" in caplog.text and "N workers" in caplog.text


def test_no_warning_with_redis_or_without_a_limit(other_app, caplog):
    with caplog.at_level(logging.WARNING, logger="invx.rate_limits"):
        other_app()
        other_app(rate_limit="100/minute", redis_url="redis://127.0.0.1:1/0")
    assert caplog.text == ""


def test_an_unreachable_redis_serves_the_request_and_warns_once_a_minute(other_app, key,
                                                                      caplog):
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    app = other_app(rate_limit="1/minute", redis_url="redis://:pass-word@127.0.0.1:1/0")
    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="invx.rate_limits"):
        statuses = [_sequences(client, key).status_code for _ in range(5)]
        app.extensions[rate_limits.EXTENSION]._skip_until = None  # past the retry pause
        statuses.append(_sequences(client, key).status_code)
    assert statuses == [200] * 6
    warnings = [r for r in caplog.records if r.name == "invx.rate_limits"]
    assert len(warnings) == 1 and "Redis cannot be reached" in warnings[0].getMessage()
    assert "pass-word" not in caplog.text


class _Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_redis_down_is_retried_after_a_pause_and_warned_of_once_a_minute(caplog):
    clock = _Clock()
    limits = rate_limits.AccountLimits("1/minute", "redis://127.0.0.1:1/0", clock=clock)
    tries = []
    real_hit = limits._limiter.hit
    limits._limiter.hit = lambda *args: tries.append(clock.now) or real_hit(*args)
    with caplog.at_level(logging.WARNING, logger="invx.rate_limits"):
        for step in range(0, 130):  # a request every half second for 65 s
            clock.now = 1000.0 + step * 0.5
            limits.hit(7)
    # Tried again once the pause is over, not at every request.
    assert len(tries) == 65 and all(b - a >= rate_limits.REDIS_RETRY_SECONDS
                                    for a, b in itertools.pairwise(tries))
    assert len(caplog.records) == 2  # at 1000 s and 60 s later


def test_two_apps_share_the_count_through_redis(other_app, key, redis_prefix):
    settings = {"rate_limit": "3/minute", "redis_url": REDIS_URL,
                "redis_key_prefix": redis_prefix}
    one, two = other_app(**settings).test_client(), other_app(**settings).test_client()
    assert _sequences(one, key).status_code == 200
    assert _sequences(two, key).status_code == 200
    assert _sequences(one, key).status_code == 200
    _assert_429(_sequences(two, key))
    _assert_429(_sequences(one, key))
    keys = list(redis_or_skip().scan_iter(match=f"{redis_prefix}:*"))
    assert len(keys) == 1  # one counter: the account's
