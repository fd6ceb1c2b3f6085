"""Request bodies at the edge, under gunicorn (issue 18): a client that stalls its body, or
sends one too large in any framing, cannot hold a worker or get anything stored."""
import json
import time
import uuid

import pytest
import requests

from tests.support.raw_http import (
    body_of,
    chunked,
    connect,
    entry_path,
    head,
    read_until_closed,
    status_of,
)

pytestmark = pytest.mark.live
MADE_UP = "0123456789abcdef0123456789abcdef01234567"
STALLED = 60  # connections, twice what the worker accepts at once below


def _stall(server, path, *headers):
    sock = connect(server)
    sock.sendall(head("PUT" if "entries" in path else "POST", path, *headers,
                      "Content-Type: application/json", "Content-Length: 1000") + b"{")
    return sock


def test_bodies_with_unknown_keys_are_refused_unread_and_cannot_starve(live_server):
    # One worker taking 30 connections at a time, 4 threads: before the fix, 60 stalled
    # bodies held every one of them and the request below waited for good.
    server = live_server(workers=1, INVX_WORKER_CONNECTIONS=30, INVX_THREADS=4)
    socks = [_stall(server, entry_path(), f"Authorization: Bearer {MADE_UP}")
             for _ in range(STALLED // 2)]
    socks += [_stall(server, f"/sequences.json?api_key={MADE_UP}") for _ in range(STALLED // 2)]
    try:
        started = time.monotonic()
        assert requests.get(f"{server.url}/sequence/v1/keys", timeout=3).status_code == 200
        assert time.monotonic() - started < 3
        for sock in socks[:5] + socks[-5:]:
            answer, closed = read_until_closed(sock)
            assert status_of(answer) == 401 and closed  # answered at once, then closed
    finally:
        for sock in socks:
            sock.close()


def _series(server, es_key):
    series_id = str(uuid.uuid4())
    auth = {"Authorization": f"Bearer {es_key}"}
    response = requests.put(f"{server.url}/sequence/v1/series/{series_id}", json={},
                            headers=auth, timeout=5)
    assert response.status_code == 200, response.text
    return series_id, auth


@pytest.mark.parametrize("trickle", [False, True])
def test_a_body_that_does_not_arrive_in_time_is_408_and_closed(live_server, es_key, trickle):
    server = live_server(workers=1, INVX_BODY_TIMEOUT=1)
    series_id, _ = _series(server, es_key)
    sock = _stall(server, entry_path(series_id), f"Authorization: Bearer {es_key}")
    started = time.monotonic()
    try:
        if trickle:  # a byte every 0.2 s: each read is quick, the whole body is not
            for _ in range(8):
                time.sleep(0.2)
                try:
                    sock.sendall(b" ")
                except (BrokenPipeError, ConnectionResetError):  # answered and closed
                    break
        answer, closed = read_until_closed(sock, limit=6)
    finally:
        sock.close()
    assert status_of(answer) == 408 and closed
    assert json.loads(body_of(answer))["code"] == "timeout"
    assert time.monotonic() - started < 5


def test_a_chunked_body_over_the_limit_is_413_and_nothing_is_stored(live_server, es_key):
    server = live_server(workers=1, INVX_MAX_BODY_BYTES=1024)
    series_id, auth = _series(server, es_key)
    entry_id = str(uuid.uuid4())
    big = json.dumps({"meta": {"note": "x" * 1500}}).encode()
    sock = connect(server)
    try:
        sock.sendall(head("PUT", entry_path(series_id, entry_id), f"Authorization: Bearer {es_key}",
                          "Content-Type: application/json", "Transfer-Encoding: chunked")
                     + chunked(big))
        answer, _ = read_until_closed(sock)
    finally:
        sock.close()
    assert status_of(answer) == 413
    assert json.loads(body_of(answer))["code"] == "too_large"
    # Nothing was stored: the same id with a body that fits is the series' first entry.
    small = requests.put(f"{server.url}{entry_path(series_id, entry_id)}", headers=auth,
                         json={"meta": {"note": "fits"}}, timeout=5)
    assert small.status_code == 200, small.text
    assert small.json()["meta"] == {"note": "fits"}
    assert "previous_id" not in small.json()  # the first entry: nothing was numbered before


def test_a_chunked_body_within_the_limit_is_read_whole(live_server, es_key):
    server = live_server(workers=1)
    series_id, auth = _series(server, es_key)
    body = json.dumps({"meta": {"note": "y" * 3000}}).encode()
    response = requests.put(f"{server.url}{entry_path(series_id)}", headers=auth,
                            data=iter([body[:1000], body[1000:]]), timeout=5)  # chunked
    assert response.status_code == 200, response.text
    assert response.json()["meta"] == {"note": "y" * 3000}


def test_a_declared_body_over_the_limit_is_413_even_where_it_is_not_read(app, client, key):
    """PUT set_current.json reads no body: before, 1.1 MB of one was let through (200)."""
    from tests.support.invoicexpress import create
    create(client, key, "2026")  # the default
    sequence = create(client, key, "2027").get_json()["sequence"]
    response = client.put(f"/sequences/{sequence['id']}/set_current.json?api_key={key}",
                          data=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert client.get(f"/sequences/{sequence['id']}.json?api_key={key}").get_json()[
        "sequence"]["default_sequence"] == 0


def test_options_is_answered_as_json(client):
    response = client.options("/sequence/v1/keys")
    assert response.content_type.startswith("application/json")
    assert "GET" in response.headers["Allow"]
