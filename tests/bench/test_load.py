"""The load generator's walk through its targets (bench/load.py)."""
import argparse
import io
import json

from bench import load
from bench.load import target_index


def test_one_target_takes_every_request():
    assert {target_index(c, k, 64, 1) for c in range(64) for k in range(10)} == {0}


def test_as_many_targets_as_clients_keeps_each_client_on_its_own():
    for client in range(64):
        assert {target_index(client, k, 64, 64) for k in range(50)} == {client}


def test_with_more_targets_than_clients_they_are_on_different_ones_and_use_them_all():
    clients, targets = 64, 1000
    used = set()
    for step in range(16):  # 16 x 64 requests reach past 1,000
        now = [target_index(c, step, clients, targets) for c in range(clients)]
        assert len(set(now)) == clients
        used.update(now)
    assert used == set(range(targets))


def test_a_client_goes_through_its_targets_in_strides_of_the_client_count():
    assert [target_index(3, k, 4, 10) for k in range(5)] == [3, 7, 1, 5, 9]


def test_fewer_targets_than_clients_are_shared_out_evenly():
    counts = [0] * 8
    for client in range(64):
        counts[target_index(client, 0, 64, 8)] += 1
    assert counts == [8] * 8


def test_targets_come_from_the_command_line_and_a_json_list(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps([["http://b/{id}", "kb"]])))
    args = argparse.Namespace(target=[["http://a/{id}", "ka"]], targets="-")
    assert load.read_targets(args) == [("http://a/{id}", "ka"), ("http://b/{id}", "kb")]
