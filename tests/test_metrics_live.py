"""/metrics under gunicorn: two workers' counts add up, a dead worker's are kept."""
import json
import os
import signal
import time

import pytest
import requests
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.live

TOKEN = "live-metrics-token-0123456789"
LIVEZ = {"endpoint": "/livez", "method": "GET", "status": "200"}


def per_worker(folder):
    """{worker pid: GET /livez it counted}, read from each worker's own file."""
    counts = {}
    for path in folder.glob("counter_*.db"):
        pid = int(path.stem.rpartition("_")[2])
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(path)):
            _, name, labels, _ = json.loads(key)
            if name == "invx_http_requests_total" and labels == LIVEZ:
                counts[pid] = counts.get(pid, 0) + value
    return counts


def scraped(server):
    """The sum /metrics shows for GET /livez."""
    response = requests.get(f"{server.url}/metrics", timeout=10,
                            headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "invx_http_requests_total" and sample.labels == LIVEZ:
                return sample.value
    return 0


def livez(server, times):
    for _ in range(times):  # a new connection each time: either worker may answer
        response = requests.get(f"{server.url}/livez", timeout=10,
                                headers={"Connection": "close"})
        assert response.status_code == 200


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.05)


def serve_until(server, folder, workers, sent):
    """GET /livez until ``workers`` workers have served some; returns the requests sent."""
    while len(per_worker(folder)) < workers:
        assert sent < 800, f"{len(per_worker(folder))} worker(s) counted {sent} requests"
        livez(server, 10)
        sent += 10
    return sent


def test_two_workers_counts_add_up_and_a_dead_workers_are_kept(live_server, tmp_path):
    folder = tmp_path / "metrics"
    server = live_server(workers=2, INVX_METRICS_TOKEN=TOKEN, INVX_METRICS_DIR=folder)
    sent = serve_until(server, folder, 2, 0)
    counted = per_worker(folder)
    assert sum(counted.values()) == sent
    assert scraped(server) == sent

    dead = min(counted)
    live_gauge = folder / f"gauge_livesum_{dead}.db"
    assert live_gauge.exists()
    os.kill(dead, signal.SIGKILL)
    wait_for(lambda: not live_gauge.exists())  # child_exit: mark_process_dead
    assert (folder / f"counter_{dead}.db").exists()
    # Until the worker that replaced it serves too (then it is up, and stops on SIGTERM).
    sent = serve_until(server, folder, 3, sent)
    assert scraped(server) == sent  # the dead worker's requests still counted

    server.stop()
    log = server.log_path.read_text()
    assert f"metrics of the workers kept in {folder}" in log
    assert TOKEN not in log
    assert not list(folder.glob("*.db"))  # on_exit
