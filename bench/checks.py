"""After a run: is every series it wrote gap-free, and does its chain verify?

Gap-free is checked in SQL, for all the run's series in one query: numbers 1 to n, n the
series' last number, each entry's link naming the entry before it. The chain is verified
through invx's ``GET .../verify`` (every signature and link), a few series at a time."""
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import requests
from sqlalchemy import bindparam, text

GAPS = text(
    "SELECT s.id, s.last_number, count(e.id), coalesce(min(e.number), 0), "
    "coalesce(max(e.number), 0), count(DISTINCT e.id), "
    "count(*) FILTER (WHERE e.id IS NOT NULL AND e.previous_id IS DISTINCT FROM p.id) "
    "FROM series s LEFT JOIN entries e ON e.series_id = s.id "
    "LEFT JOIN entries p ON p.series_id = e.series_id AND p.number = e.number - 1 "
    "WHERE s.id IN :ids GROUP BY s.id, s.last_number"
).bindparams(bindparam("ids", expanding=True))


class Checked(NamedTuple):
    """What the checks found over a run's series: ``chain_verifies`` None when no chain
    was verified (the series was prefilled in SQL, its signatures not real)."""
    series: int
    entries: int
    gap_free: bool
    chain_verifies: bool | None


def entry_counts(engine, series_ids):
    """{series id: its entries' count, or None if its numbers have a gap, a duplicate or a
    broken link}, in one query."""
    with engine.connect() as connection:
        rows = connection.execute(GAPS, {"ids": list(series_ids)}).all()
    counts = {}
    for series_id, last, count, low, high, ids, broken in rows:
        whole = count == ids == last == high and low == min(1, count) and broken == 0
        counts[series_id] = count if whole else None
    return counts


def verify_whole(base, key, series_id, count, session=requests):
    """Whether GET .../verify checks ``count`` entries and finds the chain whole. A series
    beyond one request's budget is verified by the requests that follow (each goes on from
    the checkpoint the one before left); a checkout from before checkpoints checks the
    whole series at once."""
    checked = 0
    while True:
        report = session.get(f"{base}/sequence/v1/series/{series_id}/verify",
                             headers={"Authorization": f"Bearer {key}"}, timeout=600).json()
        checked += report["entries"]
        if report["valid"] is not None:
            return report["valid"] and checked == count


def check(base, engine, targets, verify=True, parallel=4):
    """Checks the invx series of ``targets`` (harness.Target): all gap-free, in SQL; with
    ``verify``, every chain through the server at ``base``, ``parallel`` at a time."""
    targets = [t for t in targets if t.series]
    counts = entry_counts(engine, [t.series for t in targets])
    gap_free = len(counts) == len(targets) and None not in counts.values()
    verified = None
    if verify:
        with requests.Session() as session, ThreadPoolExecutor(parallel) as pool:
            verified = all(pool.map(lambda t: verify_whole(
                base, t.key, t.series, counts.get(t.series) or 0, session), targets))
    return Checked(len(targets), sum(c or 0 for c in counts.values()), gap_free, verified)
