"""Blueprint: the two references ``make bench`` compares invx with. Served by the
benchmark's own WSGI entry point (``bench/wsgi.py``): the production app never holds them.

- ``ceiling``: the same request and a response of the same shape, with no database: what
  the HTTP stack alone allows.
- ``naive``: the one-number-per-transaction design of django-sequences and its kin:
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on a counter plus the entry insert, one
  transaction (and one disk flush) per request. Its tables are the harness's, not invx's.
"""
import datetime

from flask import Blueprint, request
from sqlalchemy import select, text

from invx.auth import bearer_key, key_digest
from invx.errors import ApiUnauthorized
from invx.extensions import db
from invx.http import json_response
from invx.models import Account

bp = Blueprint("bench_references", __name__, url_prefix="/bench/v1")

NAIVE_TABLES = """
CREATE TABLE IF NOT EXISTS bench_naive_counters (series_id varchar(36) PRIMARY KEY,
                                                 value bigint NOT NULL);
CREATE TABLE IF NOT EXISTS bench_naive_entries (
    series_id varchar(36) NOT NULL, id varchar(36) NOT NULL, number bigint NOT NULL,
    code varchar(64) NOT NULL, meta text, created_at timestamp NOT NULL,
    PRIMARY KEY (series_id, id), UNIQUE (series_id, number));
"""


def _entry(series_id, entry_id, number, now):
    return {"id": entry_id, "series_id": series_id, "code": f"INV-{number:05d}", "meta": {},
            "sigs": ["e" * 260], "created_at": now, "updated_at": now}


@bp.put("/ceiling/<series_id>/entries/<entry_id>")
def ceiling(series_id, entry_id):
    request.get_json(silent=True)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return json_response(_entry(series_id, entry_id, 1, now))


@bp.put("/naive/<series_id>/entries/<entry_id>")
def naive(series_id, entry_id):
    # Written as lean as it can be, so that it is a fair reference: the key checked by one
    # plain query in the request's transaction, then the two statements of the design.
    connection = db.session.connection()
    digest = key_digest(bearer_key(request.headers.get("Authorization")))
    accounts = Account.__table__
    if digest is None or connection.execute(select(accounts.c.id).where(
            accounts.c.api_key_hash == digest)).first() is None:
        raise ApiUnauthorized()
    body = request.get_data(as_text=True)
    number = connection.execute(text(
        "INSERT INTO bench_naive_counters (series_id, value) VALUES (:s, 1) "
        "ON CONFLICT (series_id) DO UPDATE SET value = bench_naive_counters.value + 1 "
        "RETURNING value"), {"s": series_id}).scalar()
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
    connection.execute(text(
        "INSERT INTO bench_naive_entries (series_id, id, number, code, meta, created_at) "
        "VALUES (:s, :i, :n, :c, :m, :t)"),
        {"s": series_id, "i": entry_id, "n": number, "c": f"INV-{number:05d}", "m": body,
         "t": now})
    db.session.commit()
    return json_response(_entry(series_id, entry_id, number, now.isoformat() + "Z"))
