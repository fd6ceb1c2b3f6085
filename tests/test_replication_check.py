"""``/readyz``'s replication check: a primary whose standbys are all asynchronous is an
unsafe set-up (a failover can lose acknowledged numbers), said once in the log."""
import logging

import pytest

from invx import replication

from .support.postgres import requires_postgres


class Connection:
    """Answers the check's one query with ``row``."""

    def __init__(self, row):
        self.row = row

    def exec_driver_sql(self, statement):
        assert "pg_stat_replication" in statement
        return self

    def one(self):
        return self.row


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch):
    monkeypatch.setattr(replication, "_warned", set())


@pytest.mark.parametrize(("row", "status"), [
    ((0, 0, 0, "", "on"), "pass"),  # one database, no standby: nothing to fail over to
    ((1, 1, 0, "standby1", "on"), "pass"),
    ((2, 1, 0, "ANY 1 (a, b)", "remote_apply"), "pass"),
    ((1, 0, 1, "standby1", "on"), "pass"),  # sync_state unseen (no pg_read_all_stats)
    ((1, 0, 0, "", "on"), "warn"),
    ((1, 0, 1, "", "on"), "warn"),
    ((1, 1, 0, "standby1", "local"), "warn"),
])
def test_standbys_none_of_them_synchronous_are_a_warning(row, status):
    check = replication.replication_check(Connection(row))
    assert check["status"] == status
    assert check["observedValue"] == row[0] and check["observedUnit"] == "standbys"
    if status == "warn":
        assert "can lose acknowledged numbers" in check["output"]
        assert "docs/high-availability.md" in check["output"]


def test_the_log_says_why_once(caplog):
    caplog.set_level(logging.WARNING, logger="invx.replication")
    for _ in range(3):
        replication.replication_check(Connection((2, 0, 0, "", "on")))
    said = [r.getMessage() for r in caplog.records if r.name == "invx.replication"]
    assert len(said) == 1
    assert said[0].startswith("unsafe replication: 2 standby(s), none synchronous")


@requires_postgres
def test_readyz_shows_the_replication_of_the_test_server(client):
    check = client.get("/readyz").get_json()["checks"]["database:replication"][0]
    assert check["status"] in ("pass", "warn")
    assert check["observedUnit"] == "standbys"
