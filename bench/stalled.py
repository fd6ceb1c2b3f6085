"""Stalled bodies against invx under the production gunicorn configuration (issue 18):
``python -m bench.stalled [--connections 2000] [--checkout PATH]``.

On a throwaway PostgreSQL cluster, opens ``--connections`` connections on loopback that
send a request's headers with a made-up key (half entry PUTs with a Bearer key, half
InvoiceXpress POSTs with ``?api_key=``) and then stall their body; while they are open,
times legitimate requests (a GET and an entry PUT, one after the other). Prints how the
stalled connections were answered and the legitimate requests' latencies. Bounded: the
stalled connections are held for ``--hold`` seconds at most, then closed.
"""
import argparse
import socket
import statistics
import sys
import time
import uuid

import requests

from .cluster import Cluster
from .harness import ROOT, new_series, prepare
from .servers import Server

MADE_UP = "0123456789abcdef0123456789abcdef01234567"


def _stall(port, index):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if index % 2:
        line = f"PUT /sequence/v1/series/{uuid.uuid4()}/entries/{uuid.uuid4()} HTTP/1.1"
        auth = f"Authorization: Bearer {MADE_UP}\r\n"
    else:
        line, auth = f"POST /sequences.json?api_key={MADE_UP} HTTP/1.1", ""
    sock.sendall(f"{line}\r\nHost: 127.0.0.1\r\n{auth}Content-Type: application/json\r\n"
                 "Content-Length: 1000\r\n\r\n{".encode())
    return sock


def _answered(sock):
    """The status the server answered on ``sock`` (None: nothing yet), without waiting."""
    sock.setblocking(False)
    try:
        data = sock.recv(64)
    except (BlockingIOError, ConnectionResetError):
        return None
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else "closed"


def _timed(method, url, **kwargs):
    started = time.monotonic()
    response = requests.request(method, url, timeout=10, **kwargs)
    return response.status_code, (time.monotonic() - started) * 1000


def measure(server, key, connections, hold):
    series_id = new_series(server.url, key, "stalled")
    auth = {"Authorization": f"Bearer {key}"}
    socks = []
    opened = time.monotonic()
    for index in range(connections):
        socks.append(_stall(server.port, index))
        if index % 250 == 249 and sys.stderr.isatty():
            print(f"\r{index + 1}/{connections} stalled connections", end="", file=sys.stderr)
    print(f"\n{connections} stalled connections opened in {time.monotonic() - opened:.1f} s",
          file=sys.stderr)
    latencies, statuses = [], set()
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline and len(latencies) < 40:
        for method, url, extra in (
                ("GET", f"{server.url}/sequence/v1/keys", {}),
                ("PUT", f"{server.url}/sequence/v1/series/{series_id}/entries/{uuid.uuid4()}",
                 {"headers": auth, "json": {"meta": {"n": "1"}}})):
            status, ms = _timed(method, url, **extra)
            statuses.add(status)
            latencies.append(ms)
    answers = [_answered(sock) for sock in socks]
    for sock in socks:
        sock.close()
    return latencies, statuses, answers


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--hold", type=float, default=20.0)
    parser.add_argument("--checkout", default=str(ROOT))
    args = parser.parse_args(argv)
    with Cluster("stalled") as cluster:
        env, key = prepare(cluster, args.checkout)
        server = Server({**env, "INVX_WORKERS": "2"}, cluster.root / "gunicorn.log",
                        args.checkout)
        try:
            latencies, statuses, answers = measure(server, key, args.connections, args.hold)
        finally:
            server.stop()
    counts = {answer: answers.count(answer) for answer in set(answers)}
    print(f"stalled connections, by answer: {counts}")
    print(f"legitimate requests: {len(latencies)}, statuses {sorted(statuses)}, "
          f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    print("in order (ms): " + " ".join(f"{ms:.0f}" for ms in latencies))


if __name__ == "__main__":
    main()
