"""The bare reference app: ``gunicorn -c python:bench.bare.gunicorn_config``.

Plain Flask and psycopg2, importing nothing of invx, so that the references pay none of
invx's costs: no settings or app set-up per request, no request id, no metrics, no access
log (its gunicorn configuration writes none), no SQLAlchemy.

- ``PUT /ceiling/<series>/entries/<id>``: the same request as invx's, its JSON body read,
  and an answer of the same shape and size as invx's entry; no database. What the HTTP
  stack alone allows.
- ``PUT /naive/<series>/entries/<id>``: the one-number-per-transaction design of
  django-sequences and its kin. The API key is checked with one query (the account by the
  key's SHA-256), then ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` on the series'
  counter and the entry insert, in one transaction: one disk flush per request. It is
  written as lean as the design allows, so that it is a fair reference: three round trips
  (the key's query; BEGIN with the counter; the entry with COMMIT), where psycopg2's own
  transactions would take five.

``BENCH_DATABASE_URL`` is the naive design's database, ``BENCH_NAIVE_PREFIX`` its tables'
prefix (``schema``).
"""
import datetime
import json
import os

from flask import Flask, Response, request

from . import gunicorn_config, schema
from .pool import Pool

JSON_TYPE = "application/json; charset=utf-8"
# One signature as long as invx's signature and chain link together (``previous_id`` and
# a compact ES256 JWS): the answer has invx's size, byte for byte (tests/bench).
SIGNATURE = "e" * 449
UNAUTHORIZED = json.dumps({"error": "unauthorized",
                           "message": "A valid API key is required."}).encode()


def _now():
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _timestamp(moment):
    return moment.isoformat(timespec="milliseconds") + "Z"


def entry_answer(series_id, entry_id, number, meta, moment):
    """An entry in invx's shape (``sequence_service.answers.entry_json``), as a response."""
    stamp = _timestamp(moment)
    body = {"id": entry_id, "series_id": series_id, "code": f"INV-{number:07d}",
            "meta": meta, "sigs": [SIGNATURE], "created_at": stamp, "updated_at": stamp}
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(),
                    content_type=JSON_TYPE)


def _meta():
    body = request.get_json(silent=True)
    meta = body.get("meta") if isinstance(body, dict) else None
    return meta if isinstance(meta, dict) else {}


def _bearer_key():
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else None


def _statements(prefix):
    return {
        "account": f"SELECT id FROM {prefix}accounts WHERE api_key_sha256 = %s",
        "counter": f"BEGIN; INSERT INTO {prefix}counters (series_id, value) VALUES (%s, 1) "
                   f"ON CONFLICT (series_id) DO UPDATE SET value = {prefix}counters.value + 1 "
                   "RETURNING value",
        "entry": f"INSERT INTO {prefix}entries (series_id, id, number, code, meta, "
                 "created_at) VALUES (%s, %s, %s, %s, %s, %s); COMMIT",
    }


def create_app(database_url=None, prefix=None, pool_size=None):
    """The app; its database connections (``pool_size``, a worker's threads unless said)
    are made when a naive request first needs one."""
    database_url = database_url or os.environ.get("BENCH_DATABASE_URL")
    prefix = prefix or os.environ.get("BENCH_NAIVE_PREFIX") or schema.PREFIX
    app = Flask(__name__)
    pool = Pool(database_url, pool_size or gunicorn_config.threads) if database_url else None
    sql = _statements(prefix)
    app.extensions["bench_pool"] = pool

    @app.put("/ceiling/<series_id>/entries/<entry_id>")
    def ceiling(series_id, entry_id):
        return entry_answer(series_id, entry_id, 1, _meta(), _now())

    @app.put("/naive/<series_id>/entries/<entry_id>")
    def naive(series_id, entry_id):
        key = _bearer_key()
        meta = _meta()
        with pool.connection() as connection, connection.cursor() as cursor:
            cursor.execute(sql["account"], (schema.key_digest(key) if key else "",))
            if cursor.fetchone() is None:
                return Response(UNAUTHORIZED, status=401, content_type=JSON_TYPE)
            cursor.execute(sql["counter"], (series_id,))
            number = cursor.fetchone()[0]
            moment = _now()
            cursor.execute(sql["entry"], (series_id, entry_id, number, f"INV-{number:07d}",
                                          request.get_data(as_text=True), moment))
        return entry_answer(series_id, entry_id, number, meta, moment)

    return app
