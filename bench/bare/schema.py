"""The naive design's tables, its own and not invx's: its accounts (found by the SHA-256
of their API key), its counters and its entries. ``make bench`` creates them in the
benchmark's database; a prefix keeps a test's apart from anyone else's."""
import hashlib

import psycopg2

PREFIX = "bench_naive_"


def statements(prefix=PREFIX):
    return [
        f"CREATE TABLE IF NOT EXISTS {prefix}accounts (id serial PRIMARY KEY, "
        "api_key_sha256 char(64) NOT NULL UNIQUE)",
        f"CREATE TABLE IF NOT EXISTS {prefix}counters (series_id varchar(36) PRIMARY KEY, "
        "value bigint NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS {prefix}entries (series_id varchar(36) NOT NULL, "
        "id varchar(36) NOT NULL, number bigint NOT NULL, code varchar(64) NOT NULL, "
        "meta text, created_at timestamp NOT NULL, PRIMARY KEY (series_id, id), "
        "UNIQUE (series_id, number))",
    ]


def key_digest(key):
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create(dsn, keys, prefix=PREFIX):
    """The tables, and one account for each API key of ``keys`` (those already there
    kept)."""
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        for statement in statements(prefix):
            cursor.execute(statement)
        for key in keys:
            cursor.execute(f"INSERT INTO {prefix}accounts (api_key_sha256) VALUES (%s) "
                           "ON CONFLICT DO NOTHING", (key_digest(key),))
    connection.close()


def drop(dsn, prefix=PREFIX):
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        for table in ("entries", "counters", "accounts"):
            cursor.execute(f"DROP TABLE IF EXISTS {prefix}{table}")
    connection.close()
