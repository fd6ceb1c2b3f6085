"""A long series of real entries, straight in SQL: numbered, chained and signed with the
server's key as invx signs them, so that both verifications check them in full (the
prefill of ``harness`` writes fake signatures, for the issuing benchmark only).

On PostgreSQL the rows go in with COPY; elsewhere with multi-row inserts. Call it in an
app context of the server's database and secret key.
"""
import csv
import io
import time
import uuid

from sqlalchemy import insert, select, update

from invx.extensions import db
from invx.models import Entry, Series, utcnow
from invx.sequence_service import jws, signing
from invx.sequence_service.series import format_code, request_hash

BATCH = 20000
_COLUMNS = ("id", "series_id", "account_id", "number", "code", "previous_id", "sig",
            "request_hash", "created_at", "updated_at")


def append(series_id, count, secret_key, progress=None):
    """Append ``count`` entries to the series (after its last), and move its counter."""
    series = db.session.scalars(select(Series).where(Series.id == series_id)).one()
    kid, private_key = signing.signer(secret_key)
    number, previous = series.last_number, series.last_entry_id
    digest, now, ts = request_hash({"meta": {}, "sig": None}), utcnow(), int(time.time())
    done = 0
    while done < count:
        rows = []
        for _ in range(min(BATCH, count - done)):
            number += 1
            entry_id, code = str(uuid.uuid4()), format_code(series, number)
            payload = {"id": entry_id, "cid": series.id, "num": code, "ts": ts}
            if previous:
                payload["pid"] = previous
            rows.append((entry_id, series.id, series.account_id, number, code, previous,
                         jws.sign(private_key, kid, payload), digest, now, now))
            previous = entry_id
        _write(rows)
        done += len(rows)
        if progress:
            progress(done)
    db.session.execute(update(Series).where(Series.id == series.id,
                                            Series.account_id == series.account_id)
                       .values(last_number=number, last_entry_id=previous))
    db.session.commit()
    return number


def _write(rows):
    if db.engine.dialect.name != "postgresql":
        db.session.execute(insert(Entry), [dict(zip(_COLUMNS, row, strict=True))
                                           for row in rows])
        return
    text = io.StringIO()
    writer = csv.writer(text)
    for row in rows:
        writer.writerow("\\N" if value is None else value for value in row)
    text.seek(0)
    cursor = db.session.connection().connection.dbapi_connection.cursor()
    cursor.copy_expert(f"COPY entries ({', '.join(_COLUMNS)}) FROM STDIN WITH (FORMAT csv, "
                       "NULL '\\N')", text)
