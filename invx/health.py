"""``GET /livez`` and ``GET /readyz``: is the process up, and can it serve (issue 19).

Bodies in the health check response format (``application/health+json``, the IETF draft
"Health Check Response Format for HTTP APIs"): ``status`` is ``pass`` or ``fail``, and
``checks`` says what was looked at. Neither needs a key; neither is rate limited.

- ``/livez`` does no I/O: 200 while the worker answers at all.
- ``/readyz`` asks the database a trivial query (at most ``READY_TIMEOUT_MS`` on
  PostgreSQL), and for the embedded SQLite database checks that its file can be written:
  200 when both hold, 503 otherwise. Each Tax Authority this process has called shows as a
  ``tax_authority:reachable`` check: ``warn`` when its last call found it unreachable
  (``pass`` otherwise). AT is never a reason to be not ready: numbering does not need it,
  and taking every worker out of service because AT is down would only add an outage.
- On PostgreSQL, ``database:replication`` is ``warn`` when the primary has standbys and
  none is synchronous (``replication``): a failover could lose acknowledged numbers.
- With ``INVX_READ_DATABASE_URL``, ``replica:responseTime`` asks the replica ``SELECT 1``:
  ``warn`` when it does not answer (the reads sent to it fail meanwhile; numbering does not
  need it).
"""
import json
import os
import time
from datetime import UTC, datetime

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import instruments
from .extensions import db
from .log_safety import one_line, redact, safe_line
from .read_replica import read_engine
from .replication import replication_check
from .tax_authority import reachability

bp = Blueprint("health", __name__)
HEALTH_TYPE = "application/health+json"
READY_TIMEOUT_MS = 2000


def _answer(status, checks=None):
    body = {"status": status}
    if checks is not None:
        body["checks"] = checks
    response = Response(json.dumps(body), status=503 if status == "fail" else 200,
                        content_type=HEALTH_TYPE)
    response.headers["Cache-Control"] = "no-store"
    if status == "fail":
        response.headers["Retry-After"] = "1"
        instruments.unavailable("not_ready")
    return response


@bp.get("/livez")
def livez():
    return _answer("pass")


@bp.get("/readyz")
def readyz():
    response_time, replication = _database_check(db.engine)
    checks = {"database:responseTime": [response_time]}
    if replication is not None:
        checks["database:replication"] = [replication]
    replica = read_engine()
    if replica is not None:  # its reads fail while it is down, but numbering goes on
        check, _ = _database_check(replica, with_replication=False)
        checks["replica:responseTime"] = [
            {**check, "status": "pass" if check["status"] == "pass" else "warn"}]
    if db.engine.dialect.name == "sqlite":
        checks["database:writable"] = [_sqlite_writable()]
    seen = [_tax_authority_check(seen) for seen in reachability.last_seen().values()]
    if seen:
        checks["tax_authority:reachable"] = seen
    statuses = {check["status"] for found in checks.values() for check in found}
    return _answer("fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass",
                   checks)


def _now():
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _database_check(engine, with_replication=True):
    """The database's response time check, and on PostgreSQL its replication check (None
    when it could not be asked, or not ``with_replication``)."""
    started = time.monotonic()
    check = {"componentType": "datastore", "observedUnit": "ms", "time": _now()}
    replication = None
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                connection.exec_driver_sql(f"SET statement_timeout = {READY_TIMEOUT_MS}")
            connection.execute(text("SELECT 1"))
            check["observedValue"] = round((time.monotonic() - started) * 1000, 1)
            if postgres and with_replication:
                replication = {"componentType": "datastore", "time": check["time"],
                               **replication_check(connection)}
            if postgres:
                connection.exec_driver_sql("RESET statement_timeout")
        check["status"] = "pass"
    except SQLAlchemyError as error:
        check.update(status="fail", output=redact(one_line(error.orig or error))[:200])
        check.setdefault("observedValue", round((time.monotonic() - started) * 1000, 1))
        replication = None
    return check, replication


def _sqlite_writable():
    path = db.engine.url.database
    check = {"componentType": "datastore", "time": _now()}
    if not path or path == ":memory:":
        return {**check, "status": "pass"}
    writable = (os.access(path, os.W_OK) if os.path.exists(path)
                else os.access(os.path.dirname(path) or ".", os.W_OK))
    # WAL mode writes beside the file too (-wal, -shm).
    writable = writable and os.access(os.path.dirname(path) or ".", os.W_OK)
    if writable:
        return {**check, "status": "pass"}
    return {**check, "status": "fail", "output": "the database file or its folder is not "
            "writable by this process"}


def _tax_authority_check(seen):
    check = {"componentId": seen.adapter, "componentType": "system",
             "time": seen.at.isoformat(timespec="seconds").replace("+00:00", "Z"),
             "status": "pass" if seen.reachable else "warn"}
    if not seen.reachable:
        check["output"] = safe_line(f"{seen.operation}: {seen.detail}")[:200]
    return check
