"""The Sequence Service as a client sees it: requests to /sequence/v1."""
import uuid

from invx.extensions import db

API = "/sequence/v1"
SALES = "3fa85f64-5717-4562-b3fc-2c963f66afa6"  # the series most tests number


def put_series(client, auth, series_id=SALES, **body):
    """PUT a series (a full one by default)."""
    body = body or {"name": "Sales", "code": "SALES-2020", "prefix": "INV-", "padding": 5,
                    "suffix": "-F1"}
    return client.put(f"{API}/series/{series_id}", json=body, headers=auth)


def put_entry(client, auth, series=SALES, entry_id=None, **body):
    """PUT the next entry of ``series`` under ``entry_id`` (a fresh UUID by default)."""
    entry_id = entry_id or str(uuid.uuid4())
    return client.put(f"{API}/series/{series}/entries/{entry_id}", json=body or None,
                      headers=auth)


def tamper(app, statement):
    """Run ``statement`` on the test database behind the API's back, and commit."""
    with app.app_context():
        db.session.execute(statement)
        db.session.commit()
