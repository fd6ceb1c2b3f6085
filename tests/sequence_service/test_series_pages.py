"""GET /sequence/v1/series by page: ``limit`` and ``cursor`` as the entries list has them,
oldest first (creation, then id), each page read from one range of an index."""
import re
import uuid
from datetime import datetime

import pytest
from sqlalchemy import text, update

from invx.extensions import db
from invx.models import Account, Series
from invx.sequence_service import series as series_domain

from ..support.openapi import validate
from ..support.postgres import POSTGRES_URL
from ..support.sequence_service import API, put_series, tamper


def _page(client, auth, query=""):
    response = client.get(f"{API}/series{query}", headers=auth)
    assert response.status_code == 200, response.data
    return response.get_json()


def _walk(client, auth, limit):
    seen, cursor, pages = [], None, 0
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = _page(client, auth, query)
        assert page["limit"] == limit and len(page["list"]) <= limit
        seen += [series["id"] for series in page["list"]]
        pages += 1
        cursor = page["cursor"]
        if cursor is None:
            return seen, pages


def test_pages_walk_every_series_once_oldest_first(client, auth, sequence):
    own = [str(uuid.uuid4()) for _ in range(4)]
    for series_id in own:
        put_series(client, auth, series_id=series_id)
    everything = _page(client, auth)
    assert len(everything["list"]) == 19 and everything["cursor"] is None
    assert everything["limit"] == 100
    validate(client, "/sequence/v1/series", "get", "200", everything)
    in_order = [s["id"] for s in everything["list"]]
    assert in_order[-4:] == own  # the sequence's 15 sub-series came first
    seen, pages = _walk(client, auth, 4)
    assert seen == in_order and pages == 5


def test_series_made_at_one_moment_are_ordered_by_id_across_pages(app, client, auth):
    made = [str(uuid.uuid4()) for _ in range(7)]
    for series_id in made:
        put_series(client, auth, series_id=series_id)
    tamper(app, update(Series).values(created_at=datetime(2026, 1, 2, 3, 4, 5, 678901)))
    seen, pages = _walk(client, auth, 2)
    assert seen == sorted(made) and pages == 4


def test_a_page_of_exactly_the_rest_ends_the_walk(client, auth):
    for _ in range(3):
        put_series(client, auth, series_id=str(uuid.uuid4()))
    first = _page(client, auth, "?limit=3")
    assert len(first["list"]) == 3 and first["cursor"] is None


def test_another_accounts_series_are_not_listed(client, auth, make_account):
    put_series(client, auth)
    other = {"Authorization": f"Bearer {make_account('other', fiscal_id='555555550')}"}
    assert _page(client, other) == {"list": [], "limit": 100, "cursor": None}


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=", "?limit=x",
                                   "?limit=²", "?cursor=garbage", "?cursor=YmVmb3JlOjU"])
def test_a_bad_limit_or_cursor_is_422(client, auth, query):
    response = client.get(f"{API}/series{query}", headers=auth)
    assert response.status_code == 422
    assert set(response.get_json()["fields"]) <= {"limit", "cursor"}


@pytest.mark.parametrize("position", ["2026-01-01T00:00:00+00:00/" + str(uuid.uuid4()),
                                      "2026-01-01T00:00:00/not-a-uuid", "²/x", "",
                                      "99999-01-01/" + str(uuid.uuid4())])
def test_a_forged_series_cursor_is_422(client, auth, position):
    import base64
    cursor = base64.urlsafe_b64encode(f"after:{position}".encode()).decode().rstrip("=")
    response = client.get(f"{API}/series?cursor={cursor}", headers=auth)
    assert response.status_code == 422 and "cursor" in response.get_json()["fields"]


def test_an_entries_cursor_is_not_a_series_cursor(client, auth, series):
    from invx.sequence_service.views import _make_cursor
    response = client.get(f"{API}/series?cursor={_make_cursor(5)}", headers=auth)
    assert response.status_code == 422


def _plan(app, account_id, after):
    """The database's plan of a page of series."""
    with app.app_context():
        account = db.session.get(Account, account_id)
        query = series_domain.series_page_query(account, 21, after)
        compiled = query.compile(db.engine, compile_kwargs={"literal_binds": True})
        if POSTGRES_URL:
            # Whether the index can serve the page, whatever the tables' statistics say.
            for method in ("seqscan", "bitmapscan", "sort"):
                db.session.execute(text(f"SET LOCAL enable_{method} = off"))
            rows = db.session.execute(text(f"EXPLAIN {compiled}")).scalars().all()
        else:
            rows = [row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
        db.session.rollback()
        return "\n".join(rows)


def test_a_page_is_one_range_of_the_index_without_a_full_sort(app, client, auth, sequence):
    with app.app_context():
        first = db.session.query(Series).order_by(Series.created_at, Series.id).first()
        account_id, after = first.account_id, (first.created_at, first.id)
    for cursor in (None, after):
        plan = _plan(app, account_id, cursor)
        assert "ix_series_account_id_created_at" in plan, plan
        # At most the ties of one creation time are sorted (an incremental sort); never
        # the whole account.
        assert not re.search(r"(^|-> +)Sort ", plan, re.M), plan
        assert "TEMP B-TREE FOR ORDER BY" not in plan, plan

