"""PostgreSQL for the tests that need it: CI sets INVX_TEST_DATABASE_URL; elsewhere they
skip, saying why."""
import os
import secrets

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from invx.config import database_url as normalise_url

POSTGRES_URL = os.environ.get("INVX_TEST_DATABASE_URL")

requires_postgres = pytest.mark.skipif(
    not POSTGRES_URL,
    reason="needs PostgreSQL (row locks, concurrency): set INVX_TEST_DATABASE_URL; CI does")


def postgres_schema_url(schema):
    """The test server's URL with ``search_path`` set to a schema of our own."""
    url = make_url(normalise_url(POSTGRES_URL))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)


def create_postgres_schema():
    """A fresh, empty schema on the test server. Fails (never skips) if it is unreachable."""
    schema = f"invx_test_{secrets.token_hex(4)}"
    engine = create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return schema


def drop_postgres_schema(schema):
    engine = create_engine(normalise_url(POSTGRES_URL))
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
