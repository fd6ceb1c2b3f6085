"""invx under gunicorn, over real HTTP: the InvoiceXpress Python client, several workers."""
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from invoicexpress_api import Client

from .support.redis import REDIS_URL

pytestmark = pytest.mark.live


def test_the_invoicexpress_python_client_lists_creates_and_sets_current(live_server, key):
    server = live_server()
    client = Client("acme", key)
    client.base_url = server.url + "/"

    assert client.get("/sequences.json") == {"sequences": [], "pagination": {
        "total_entries": 0, "current_page": 1, "total_pages": 0, "per_page": 30}}
    first = client.post("/sequences.json", {"sequence": {"serie": "2025"}})["sequence"]
    second = client.post("/sequences.json",
                         {"sequence": {"serie": 2026, "default_sequence": "1"}})["sequence"]
    assert (first["serie"], second["serie"]) == ("2025", "2026")
    assert second["default_sequence"] == 1
    assert second["current_invoice_validation_code"].startswith("SBX")

    # The client sends its JSON body on PUT too; set_current ignores it and answers 200.
    client.put(f"/sequences/{first['id']}/set_current.json", {"sequence": {"serie": "2025"}})
    listed = client.get("/sequences.json")["sequences"]
    assert [(s["serie"], s["default_sequence"]) for s in listed] == [("2025", 1), ("2026", 0)]
    assert client.get(f"/sequences/{second['id']}.json")["sequence"]["id"] == second["id"]

    with pytest.raises(ValueError, match="422"):
        client.post("/sequences.json", {"sequence": {"serie": "2025"}})
    intruder = Client("acme", "wrong-key-0123456789")
    intruder.base_url = server.url + "/"  # only ever the local server
    with pytest.raises(ValueError, match="401"):
        intruder.get("/sequences.json")


def test_the_access_log_never_shows_the_api_key(live_server, key):
    server = live_server(workers=1)
    requests.get(f"{server.url}/sequences.json", params={"api_key": key}, timeout=5)
    requests.get(f"{server.url}/sequences.json", params={"api_key": "wrong" + key}, timeout=5)
    server.stop()
    log = server.log_path.read_text()
    access = [json.loads(line) for line in log.splitlines() if "gunicorn.access" in line]
    assert [(r["method"], r["path"], r["status"]) for r in access
            if r["path"] == "/sequences.json"] == [("GET", "/sequences.json", 200),
                                                   ("GET", "/sequences.json", 401)]
    assert key not in log
    assert "api_key" not in log


def test_409_while_registering_holds_across_gunicorn_workers(live_server, key):
    # Each sandbox call takes 0.2 s, so a registration takes over 2 s; two sync workers
    # (one thread each): while one registers, only the other can answer.
    server = live_server(workers=2, INVX_THREADS=1, INVX_SANDBOX_LATENCY=0.2)
    url = f"{server.url}/sequences.json?api_key={key}"
    body = {"sequence": {"serie": "2026"}}
    started = threading.Event()

    def first():
        started.set()
        return requests.post(url, json=body, timeout=30)

    with ThreadPoolExecutor(1) as pool:
        creation = pool.submit(first)
        started.wait()
        conflicts = []
        for _ in range(6):  # a new connection each time: either worker may answer
            threading.Event().wait(0.3)
            conflicts.append(requests.post(url, json=body, timeout=30))
        assert creation.result().status_code == 201
    in_progress = [r for r in conflicts if r.status_code == 409]
    assert in_progress, [r.status_code for r in conflicts]
    assert in_progress[0].json() == {
        "code": "006", "message": "The sequence is already being registered."}
    assert {r.status_code for r in conflicts} <= {409, 422}


def test_gunicorn_workers_share_one_count_through_redis(live_server, key, redis_prefix):
    server = live_server(workers=2, INVX_RATE_LIMIT="5/minute", INVX_REDIS_URL=REDIS_URL,
                         INVX_REDIS_KEY_PREFIX=redis_prefix)
    url = f"{server.url}/sequences.json?api_key={key}"
    # A new connection each time: either worker may answer.
    statuses = [requests.get(url, timeout=5, headers={"Connection": "close"}).status_code
                for _ in range(12)]
    assert statuses == [200] * 5 + [429] * 7
