"""Issue 21: the primary dies under load and its synchronous standby is promoted. invx,
given both as one libpq multi-host URL, answers 503 (never a 500, never a hang) until the
standby takes writes, then numbers again; no acknowledged entry is lost or changed, and
every series stays gap-free, without duplicates, and verifies."""
import collections
import json
import os
import subprocess
import sys
import time
import uuid
from typing import NamedTuple

import pytest
import requests
from sqlalchemy import create_engine, text

from invx.config import database_url as normalise_url

from .support.entry_load import EntryLoad
from .support.live import ROOT, LiveServer
from .support.postgres import requires_postgres
from .support.replication import ReplicatedPair, server_binaries
from .support.settings import TEST_SECRET

pytestmark = [requires_postgres, pytest.mark.live]

SERIES = 4
LOAD_BEFORE_KILL = 2.0  # seconds of entries on the first primary
PRIMARYLESS = 1.0  # seconds between the kill and the promotion
LOAD_AFTER_PROMOTION = 4.0


def invx(database_url, *arguments):
    """Run the ``invx`` command on ``database_url``; returns its standard output."""
    environment = {**os.environ, "INVX_DATABASE_URL": database_url,
                   "INVX_SECRET_KEY": TEST_SECRET}
    return subprocess.run([sys.executable, "-m", "invx", *arguments], cwd=ROOT,
                          env=environment, check=True, capture_output=True, text=True,
                          timeout=60).stdout


@pytest.fixture
def pair():
    """A migrated primary with an account, and its synchronous standby; the account's key
    is ``pair.api_key``. Both servers are stopped and removed after the test."""
    binaries = server_binaries()
    if binaries is None:
        pytest.skip("needs the PostgreSQL server tools (pg_config --bindir: initdb, pg_ctl, "
                    "pg_basebackup, psql)")
    pair = ReplicatedPair(binaries)

    def prepare(url):
        invx(url, "db", "upgrade")
        created = invx(url, "accounts", "create", "failover", "--country", "ES",
                       "--fiscal-id", "B12345678")
        pair.api_key = json.loads(created)["api_key"]

    try:
        pair.build(prepare)
        yield pair
    finally:
        pair.remove()


@pytest.fixture
def server(pair, tmp_path):
    # A short connect timeout: a host that does not answer fails a request fast.
    live = LiveServer(pair.url, tmp_path / "gunicorn.log", workers=2,
                      INVX_DB_CONNECT_TIMEOUT=2)
    yield live
    live.stop()


def put_series(server, api_key):
    """Series whose code is the bare number, made through the API; returns their ids."""
    ids = [str(uuid.uuid4()) for _ in range(SERIES)]
    for index, series_id in enumerate(ids):
        response = requests.put(f"{server.url}/sequence/v1/series/{series_id}",
                                json={"name": f"Failover {index}"}, timeout=10,
                                headers={"Authorization": f"Bearer {api_key}"})
        assert response.status_code == 200, response.text
    return ids


class Timeline(NamedTuple):
    """When the failover's steps happened (time.monotonic())."""

    killed: float  # pg_ctl stop -m immediate returned: the primary is gone
    promotion_asked: float
    promoted: float  # pg_ctl promote -w returned: the standby takes writes


def fail_over_under_load(pair, load):
    """Load, kill the primary, promote the standby, load again; returns the Timeline."""
    load.start()
    try:
        deadline = time.monotonic() + 30
        while load.acknowledged_count() < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(LOAD_BEFORE_KILL)
        pair.kill_primary()
        killed_at = time.monotonic()  # once it is gone: what was sent before may succeed
        time.sleep(PRIMARYLESS)
        promotion_asked_at = time.monotonic()
        pair.promote_standby()
        promoted_at = time.monotonic()
        time.sleep(LOAD_AFTER_PROMOTION)
    finally:  # no client thread outlives the test, whatever failed
        finished = load.stop()
    assert finished, "a load thread did not finish in time"
    return Timeline(killed_at, promotion_asked_at, promoted_at)


def stored_entries(url):
    """Every entry of the database at ``url``: {(series, entry id): (number, code)}."""
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT series_id, id, number, code FROM entries")).all()
    finally:
        engine.dispose()
    return {(row.series_id, row.id): (row.number, row.code) for row in rows}


def numbering_faults(entries):
    """Gaps and duplicate numbers over every series of ``entries``."""
    numbers = collections.defaultdict(list)
    for (series_id, _), (number, _) in entries.items():
        numbers[series_id].append(number)
    gaps = duplicates = 0
    for used in numbers.values():
        duplicates += len(used) - len(set(used))
        gaps += len(set(range(1, max(used) + 1)) - set(used))
    return gaps, duplicates


def verification_reports(server, api_key, series_ids):
    reports = {}
    for series_id in series_ids:
        response = requests.get(f"{server.url}/sequence/v1/series/{series_id}/verify",
                                headers={"Authorization": f"Bearer {api_key}"}, timeout=30)
        assert response.status_code == 200, response.text
        reports[series_id] = response.json()
    return reports


def replication_check(server):
    answer = requests.get(f"{server.url}/readyz", timeout=10).json()
    return answer["checks"]["database:replication"][0]


def test_a_promoted_standby_keeps_every_acknowledged_entry_and_numbers_on(pair, server):
    before = replication_check(server)
    assert (before["status"], before["observedValue"]) == ("pass", 1), before  # synchronous
    series_ids = put_series(server, pair.api_key)
    load = EntryLoad(server.url, pair.api_key, series_ids, threads=8,
                     give_up_at=time.monotonic() + 60)
    timeline = fail_over_under_load(pair, load)

    entries = stored_entries(pair.url_of(pair.standby))
    lost = [ack for ack in load.acknowledged
            if entries.get((ack.series_id, ack.entry_id), (None, None))[1] != ack.code]
    gaps, duplicates = numbering_faults(entries)
    after_kill = [ack.sent_at for ack in load.acknowledged if ack.sent_at >= timeline.killed]
    first = min(after_kill, default=None)
    figures = {"acknowledged": len(load.acknowledged), "stored": len(entries),
               "lost": len(lost), "gaps": gaps, "duplicates": duplicates,
               "unresolved": len(load.unresolved),
               "outcomes": dict(load.outcomes),
               "seconds from kill to first success":
                   first and round(first - timeline.killed, 2),
               "seconds from promotion asked to first success":
                   first and round(first - timeline.promotion_asked, 2)}
    print(f"\nfailover: {json.dumps(figures)}")
    unacceptable = set(load.outcomes) - {"200", "503"}
    assert not unacceptable, (figures, load.details)
    assert load.outcomes["503"], f"no request saw the database unavailable: {figures}"
    assert (lost, gaps, duplicates, load.unresolved) == ([], 0, 0, []), figures
    assert any(sent_at > timeline.promoted for sent_at in after_kill), figures
    reports = verification_reports(server, pair.api_key, series_ids)
    broken = {series: report for series, report in reports.items()
              if report["valid"] is not True or report["remaining"]}
    assert not broken, (figures, broken)
    assert replication_check(server)["observedValue"] == 0  # the new primary stands alone


def test_readyz_warns_once_in_the_log_of_a_standby_that_is_not_synchronous(pair, server):
    pair.primary.psql("ALTER SYSTEM RESET synchronous_standby_names")
    pair.primary.psql("SELECT pg_reload_conf()")
    deadline = time.monotonic() + 30
    while pair.primary.psql("SELECT sync_state FROM pg_stat_replication") != "async":
        assert time.monotonic() < deadline, "the standby did not become asynchronous"
        time.sleep(0.1)
    checks = [replication_check(server) for _ in range(6)]  # both workers, several times
    assert {check["status"] for check in checks} == {"warn"}, checks
    assert "none synchronous" in checks[0]["output"]
    assert "can lose acknowledged numbers" in checks[0]["output"]
    said = [line for line in server.log_path.read_text().splitlines()
            if "unsafe replication" in line]
    assert 1 <= len(said) <= 2, said  # once per worker that was asked
