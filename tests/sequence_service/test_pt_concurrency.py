"""The document chain under real concurrency: several hundred entries of one signing series
sent at once through two gunicorn workers (each with its own batches, whose row lock
serializes them). Afterwards every Hash verifies over the Hash of the entry numbered just
before it: no two documents signed against the same previous one. PostgreSQL only, as the
other concurrency tests (test_concurrency says why)."""
import concurrent.futures
import uuid
from datetime import date, datetime
from decimal import Decimal

import requests
from sqlalchemy import select

from invx.extensions import db
from invx.models import Entry, Series
from invx.portugal import document_hash

from ..portugal.test_document_hash import KEY
from ..support.postgres import requires_postgres
from .test_pt_documents import PT, signing  # noqa: F401 (the fixture)

ENTRIES, CLIENTS = 300, 24


@requires_postgres
def test_concurrent_documents_of_one_series_chain_in_number_order(
        app, auth, signing, live_server):  # noqa: F811
    server = live_server(workers=2)
    url = f"{server.url}/sequence/v1/series/{signing}/entries"

    def send(_):
        with requests.Session() as session:
            for _ in range(3):  # a 503 (the pool, a busy machine) is retried, same id
                answer = session.put(f"{url}/{uuid.uuid4()}", json={"pt": PT},
                                     headers=auth, timeout=60)
                if answer.status_code != 503:
                    return answer.status_code
            return answer.status_code

    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        statuses = list(pool.map(send, range(ENTRIES)))
    assert statuses.count(200) == ENTRIES, sorted(set(statuses))
    with app.app_context():
        series = db.session.scalar(select(Series).where(Series.number_id == signing))
        entries = db.session.scalars(select(Entry).where(Entry.series_id == series.id)
                                     .order_by(Entry.number)).all()
        assert series.last_pt_hash == entries[-1].pt["hash"]
    assert [e.number for e in entries] == list(range(1, ENTRIES + 1))
    previous = None
    for entry in entries:
        text = document_hash.message(
            date.fromisoformat(entry.pt["invoice_date"]),
            datetime.fromisoformat(entry.pt["system_entry_date"]), entry.code,
            Decimal(entry.pt["gross_total"]), previous)
        assert document_hash.verifies(KEY.public_key(), text, entry.pt["hash"]), entry.number
        previous = entry.pt["hash"]
    assert len({e.pt["hash"] for e in entries}) == ENTRIES
