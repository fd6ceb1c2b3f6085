"""What ``make bench``, ``bench.compare`` and ``make profile`` share: a checkout served by
gunicorn on a throwaway cluster, the load generator, the series it loads, their checks."""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import text

from . import cpu

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wsgi_app(root):
    """The benchmark's WSGI app in the checkout ``root``: invx with the references
    (``bench/wsgi.py``). A checkout from before it (invx/bench_api.py) serves them from
    invx's own app, with INVX_BENCHMARK_ENDPOINTS set: ``bench.compare`` measures both."""
    if (Path(root) / "bench" / "wsgi.py").exists():
        return "bench.wsgi:app", {}
    return "wsgi:app", {"INVX_BENCHMARK_ENDPOINTS": "1"}


def invx_command(root):
    """The ``invx`` command of the checkout ``root`` (``python -m invx``; ``invx.cli`` in a
    checkout from before it)."""
    main = "invx" if (Path(root) / "invx" / "__main__.py").exists() else "invx.cli"
    return [PYTHON, "-m", main]


class Server:
    """invx (and the references) under gunicorn with the production configuration, on one
    cluster; ``root`` is the checkout it serves."""

    def __init__(self, env, log, root=ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        app, extra = wsgi_app(root)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py", app], cwd=root,
            env={**env, **extra, "INVX_BIND": f"127.0.0.1:{self.port}"}, stdout=self.log,
            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.get(self.url + "/openapi.json", timeout=2)
                return
            except requests.RequestException:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError("gunicorn did not start")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def load(urls, key, clients, duration, warmup, watch=None):
    """Run the load generator; with ``watch`` ({"server": pid, "database": pid}), also the
    CPU milliseconds per request each of those process families and the load generator
    used over the whole run."""
    command = [PYTHON, "-m", "bench.load", "--clients", str(clients), "--duration",
               str(duration), "--warmup", str(warmup), "--key", key]
    for url in urls:
        command += ["--url", url]
    before = {name: cpu.snapshot(pid) for name, pid in (watch or {}).items()}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=duration + warmup + 120)
    result = json.loads(done.stdout)
    served = result["requests"] + result["warmup_requests"]
    if watch and served:
        used = {name: cpu.used_since(pid, before[name]) for name, pid in watch.items()}
        used["client"] = result["cpu_s"]
        result["cpu_ms"] = {name: round(1000 * s / served, 2) for name, s in used.items()}
    return result


def entries_url(base, series_id):
    """The URL of a series' entries, ``{id}`` left for the load generator to fill."""
    return f"{base}/sequence/v1/series/{series_id}/entries/{{id}}"


def reference_url(base, design):
    """The same, for a new series of a reference (``naive`` or ``ceiling``, references)."""
    return f"{base}/bench/v1/{design}/{uuid.uuid4()}/entries/{{id}}"


def new_series(base, key, name):
    series_id = str(uuid.uuid4())
    response = requests.put(f"{base}/sequence/v1/series/{series_id}",
                            json={"name": name, "prefix": "INV-", "padding": 7},
                            headers={"Authorization": f"Bearer {key}"}, timeout=30)
    response.raise_for_status()
    return series_id


def check(base, key, engine, series_id, full_verify=True):
    """Gap-free (in SQL) and, unless the series was prefilled, its chain verifies."""
    with engine.connect() as connection:
        count, low, high, ids = connection.execute(text(
            "SELECT count(*), min(number), max(number), count(DISTINCT id) FROM entries "
            "WHERE series_id = :s"), {"s": series_id}).one()
        broken = connection.execute(text(
            "SELECT count(*) FROM entries e JOIN entries p ON p.series_id = e.series_id "
            "AND p.number = e.number - 1 WHERE e.series_id = :s "
            "AND e.previous_id IS DISTINCT FROM p.id"), {"s": series_id}).scalar()
    gap_free = count == 0 or (low == 1 and high == count and ids == count and broken == 0)
    verified = verify_whole(base, key, series_id, count) if full_verify else None
    return {"entries": count, "gap_free": gap_free, "chain_verifies": verified}


def verify_whole(base, key, series_id, count):
    """Whether GET .../verify checks ``count`` entries and finds the chain whole. A series
    beyond one request's budget is verified by the requests that follow (each goes on from
    the checkpoint the one before left); a checkout from before checkpoints checks the
    whole series at once."""
    checked = 0
    while True:
        report = requests.get(f"{base}/sequence/v1/series/{series_id}/verify",
                              headers={"Authorization": f"Bearer {key}"}, timeout=600).json()
        checked += report["entries"]
        if report["valid"] is not None:
            return report["valid"] and checked == count


def prefill(engine, series_id, n):
    """n entries in a series, chained, straight in SQL (their signatures are not real: the
    check of that series is done in SQL)."""
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO entries (id, series_id, account_id, number, code, previous_id, sig, "
            "request_hash, created_at, updated_at) "
            "SELECT md5('p' || i)::uuid::text, :s, s.account_id, i, 'INV-' || lpad(i::text, 7, "
            "'0'), CASE WHEN i > 1 THEN md5('p' || (i - 1))::uuid::text END, 'prefill', "
            "md5(''), now(), now() FROM generate_series(1, :n) AS i, series s WHERE s.id = :s"),
            {"s": series_id, "n": n})
        connection.execute(text(
            "UPDATE series SET last_number = :n, last_entry_id = md5('p' || :n)::uuid::text "
            "WHERE id = :s"), {"s": series_id, "n": n})
        connection.execute(text("ANALYZE entries"))


def prepare(cluster, root=ROOT):
    """Migrate a fresh cluster with the checkout at ``root`` and make an account; returns
    (server environment, API key)."""
    env = {**os.environ, "INVX_DATABASE_URL": cluster.url, "INVX_LOG_LEVEL": "WARNING",
           "INVX_SECRET_KEY": secrets.token_urlsafe(32)}
    invx = invx_command(root)
    subprocess.run([*invx, "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True)
    key = secrets.token_hex(20)
    subprocess.run([*invx, "accounts", "create", "bench", "--country", "ES", "--fiscal-id",
                    "B12345678", "--api-key", key],
                   cwd=root, env=env, check=True, capture_output=True)
    return env, key


def settle(engine):
    """Vacuum and analyse the entries, then a checkpoint: the next run starts clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE entries"))
        connection.execute(text("CHECKPOINT"))
