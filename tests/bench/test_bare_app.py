"""The bare reference app (bench/bare): the ceiling's answer is invx's entry, shape and
size; the naive design numbers gap-free behind one key query (on the PostgreSQL at
BENCH_TEST_DATABASE_URL, postgresql://root@127.0.0.1:5432/test unless said; skipped when
it cannot be reached)."""
import json
import os
import secrets
import threading
import uuid

import psycopg2
import pytest

from bench.bare import schema
from bench.bare.app import create_app
from bench.bare.pool import Pool, PoolTimeout

from ..support.sequence_service import API

DATABASE = os.environ.get("BENCH_TEST_DATABASE_URL", "postgresql://root@127.0.0.1:5432/test")
META = {"meta": {"client": "12"}}  # what the load generator sends (two-digit clients)


def test_the_ceiling_answers_an_entry_in_invx_s_shape():
    series, entry = str(uuid.uuid4()), str(uuid.uuid4())
    response = create_app().test_client().put(f"/ceiling/{series}/entries/{entry}", json=META)
    assert response.status_code == 200
    assert response.content_type == "application/json; charset=utf-8"
    body = response.get_json()
    assert list(body) == ["id", "series_id", "code", "meta", "sigs", "created_at",
                          "updated_at"]
    assert (body["id"], body["series_id"], body["meta"]) == (entry, series, META["meta"])
    assert len(body["sigs"]) == 1 and body["created_at"].endswith("Z")


def test_the_ceilings_answer_is_as_long_as_a_real_invx_entry(client, es_key):
    auth = {"Authorization": f"Bearer {es_key}"}
    series = str(uuid.uuid4())
    assert client.put(f"{API}/series/{series}", headers=auth,
                      json={"name": "bench", "prefix": "INV-", "padding": 7}).status_code == 200
    for _ in range(2):  # the second has a chain link, as all but the first do
        invx = client.put(f"{API}/series/{series}/entries/{uuid.uuid4()}", json=META,
                          headers=auth)
    ceiling = create_app().test_client().put(
        f"/ceiling/{series}/entries/{uuid.uuid4()}", json=META)
    assert invx.status_code == 200
    assert len(ceiling.data) == len(invx.data), invx.get_json()


@pytest.fixture(scope="module")
def database():
    try:
        psycopg2.connect(DATABASE, connect_timeout=3).close()
    except psycopg2.OperationalError as error:
        pytest.skip(f"no PostgreSQL at {DATABASE} for the naive design: {error}".strip())
    return DATABASE


@pytest.fixture
def naive(database):
    """(test client, API key, prefix) of the naive design on tables of this test's own."""
    prefix, key = f"bench_test_{secrets.token_hex(4)}_", secrets.token_hex(20)
    schema.create(database, [key], prefix)
    app = create_app(database, prefix)
    yield app.test_client(), key, prefix
    app.extensions["bench_pool"].close()
    schema.drop(database, prefix)


def _numbers(prefix, series):
    with psycopg2.connect(DATABASE) as connection, connection.cursor() as cursor:
        cursor.execute(f"SELECT number, code, meta FROM {prefix}entries WHERE series_id = %s "
                       "ORDER BY number", (series,))
        rows = cursor.fetchall()
    connection.close()
    return rows


def test_the_naive_design_refuses_a_request_without_a_known_key(naive):
    client, _, prefix = naive
    series = str(uuid.uuid4())
    for headers in ({}, {"Authorization": "Bearer not-a-key-of-anyone"}):
        response = client.put(f"/naive/{series}/entries/{uuid.uuid4()}", json=META,
                              headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"] == "unauthorized"
    assert _numbers(prefix, series) == []


def test_the_naive_design_numbers_each_series_from_one(naive):
    client, key, prefix = naive
    auth = {"Authorization": f"Bearer {key}"}
    series, other = str(uuid.uuid4()), str(uuid.uuid4())
    codes = [client.put(f"/naive/{s}/entries/{uuid.uuid4()}", json=META, headers=auth)
             .get_json()["code"] for s in (series, series, other, series)]
    assert codes == ["INV-0000001", "INV-0000002", "INV-0000001", "INV-0000003"]
    assert [(n, c) for n, c, _ in _numbers(prefix, series)] == \
        [(1, "INV-0000001"), (2, "INV-0000002"), (3, "INV-0000003")]
    assert json.loads(_numbers(prefix, other)[0][2]) == META


def test_the_naive_design_is_gap_free_under_more_threads_than_connections(database):
    prefix, key = f"bench_test_{secrets.token_hex(4)}_", secrets.token_hex(20)
    schema.create(database, [key], prefix)
    app = create_app(database, prefix, pool_size=2)  # 8 threads: most wait for one
    series, statuses = str(uuid.uuid4()), []

    def write():
        client = app.test_client()
        for _ in range(5):
            statuses.append(client.put(f"/naive/{series}/entries/{uuid.uuid4()}", json=META,
                                       headers={"Authorization": f"Bearer {key}"}).status_code)

    try:
        threads = [threading.Thread(target=write) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 40
        assert [n for n, _, _ in _numbers(prefix, series)] == list(range(1, 41))
    finally:
        app.extensions["bench_pool"].close()
        schema.drop(database, prefix)


def test_the_pool_makes_a_request_wait_for_a_connection_then_gives_up(database):
    pool = Pool(database, 1, timeout=0.2)
    with pool.connection() as first, pytest.raises(PoolTimeout), pool.connection():
        pass
    with pool.connection() as again:  # the one connection, given back and reused
        assert again is first
    pool.close()
