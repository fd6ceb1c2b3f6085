"""``make bench``: invx's numbering against the HTTP ceiling and the naive design.

For each disk (this machine's, and a slow one whose fsync/fdatasync take 1 ms more) it
starts a throwaway PostgreSQL cluster, migrates it, serves invx with the production
gunicorn configuration, and drives it from a separate load-generator process on loopback:
one hot series at 1, 8, 32 and 64 clients, 64 clients over 64 series, and a series that
already holds 1,000,000 entries against an empty one. The figures compared to the ceiling
and to the 1,000,000-entry series are means of two runs each, in an order that makes a
drift of the machine's speed weigh on both sides alike (invx, ceiling, ceiling, invx).
After every invx run the series is checked: gap-free, and its chain verifies. It prints one
table and writes it, with the command and the machine, to docs/benchmarks.md. It stops by
itself.
"""
import argparse
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests
from sqlalchemy import create_engine, text

from invx.bench_api import NAIVE_TABLES

from . import cpu
from .cluster import Cluster, build_slow_fsync

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
HOT = (1, 8, 32, 64)
PREFILL = 1_000_000


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """invx under gunicorn with the production configuration, on one cluster; ``root`` is
    the checkout it serves."""

    def __init__(self, env, log, root=ROOT):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "gunicorn", "-c", "gunicorn.conf.py"], cwd=root,
            env={**env, "INVX_BIND": f"127.0.0.1:{self.port}"}, stdout=self.log,
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
    """The same, for a new series of a reference (``naive`` or ``ceiling``, bench_api)."""
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
    verified = None
    if full_verify:
        report = requests.get(f"{base}/sequence/v1/series/{series_id}/verify",
                              headers={"Authorization": f"Bearer {key}"}, timeout=600).json()
        verified = report["valid"] and report["entries"] == count
    return {"entries": count, "gap_free": gap_free, "chain_verifies": verified}


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
           "INVX_SECRET_KEY": secrets.token_urlsafe(32), "INVX_BENCHMARK_ENDPOINTS": "1"}
    subprocess.run([PYTHON, "-m", "invx.cli", "db", "upgrade"], cwd=root, env=env,
                   check=True, capture_output=True)
    key = secrets.token_hex(20)
    subprocess.run([PYTHON, "-c", "from invx.cli import main; main()", "accounts", "create",
                    "bench", "--country", "ES", "--fiscal-id", "B12345678", "--api-key", key],
                   cwd=root, env=env, check=True, capture_output=True)
    return env, key


def settle(engine):
    """Vacuum and analyse the entries, then a checkpoint: the next run starts clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE entries"))
        connection.execute(text("CHECKPOINT"))


def bench_disk(label, preload, args, log):
    rows = []
    with Cluster(label.split()[0], preload=preload) as cluster:
        env, key = prepare(cluster)
        engine = create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.begin() as connection:
            for statement in NAIVE_TABLES.split(";"):
                if statement.strip():
                    connection.execute(text(statement))
        server = Server(env, log)
        base = server.url
        try:
            def run(design, scenario, clients, urls, series=(), full_verify=True):
                print(f"  {label}: {design:<7} {scenario:<22}", end="", flush=True)
                result = load(urls, key, clients, args.duration, args.warmup,
                              {"server": server.process.pid,
                               "database": cluster.postmaster_pid})
                result.update(disk=label, design=design, scenario=scenario, clients=clients)
                checks = [check(base, key, engine, s, full_verify) for s in series]
                if checks:
                    result["gap_free"] = all(c["gap_free"] for c in checks)
                    result["chain_verifies"] = all(c["chain_verifies"] in (True, None)
                                                   for c in checks)
                print(f" {result['rps']:>8} req/s  p50 {result['p50_ms']} ms  p99 "
                      f"{result['p99_ms']} ms  errors {result['errors']}  CPU ms/request "
                      f"{result.get('cpu_ms')}  idle {result['idle_pct']}%")
                rows.append(result)

            for clients in args.clients:
                series = new_series(base, key, f"hot-{clients}")
                run("invx", "one hot series", clients, [entries_url(base, series)], [series])
                run("naive", "one hot series", clients, [reference_url(base, "naive")])
            # The ceiling twice, then invx at 64 clients once more: the order invx, ceiling,
            # ceiling, invx, so that a drift of the machine's speed weighs on both alike (the
            # ratio is of means, as for the 1,000,000-entry series).
            ceiling = [reference_url(base, "ceiling")]
            run("ceiling", "one hot series", 64, ceiling)
            run("ceiling", "one hot series", 64, ceiling)
            if 64 in args.clients:
                series = new_series(base, key, "hot-64-again")
                run("invx", "one hot series", 64, [entries_url(base, series)], [series])
            if args.spread:
                spread = [new_series(base, key, f"spread-{n}") for n in range(64)]
                run("invx", "64 series", 64, [entries_url(base, s) for s in spread], spread)
                run("naive", "64 series", 64, [reference_url(base, "naive") for _ in range(64)])
            if args.million and preload is None:
                big = new_series(base, key, "million")
                prefill(engine, big, PREFILL)
                # Two runs each, in the order 1M, empty, empty, 1M, so that a drift of the
                # machine's speed weighs on both alike; each run starts from a checkpoint,
                # so none pays for one that the bulk load above or a run before set off.
                for which in ("million", "empty", "empty", "million"):
                    settle(engine)
                    if which == "million":
                        run("invx", "series of 1M entries", 32, [entries_url(base, big)],
                            [big], full_verify=False)
                    else:
                        empty = new_series(base, key, "empty")
                        run("invx", "empty series", 32, [entries_url(base, empty)],
                            [empty])
        finally:
            server.stop()
            engine.dispose()
    return rows


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def table(rows):
    lines = ["| disk | design | scenario | clients | req/s | p50 ms | p99 ms | errors | "
             "CPU ms/request: server, database, load generator | machine idle % | gap-free | "
             "chain verifies |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        used = r.get("cpu_ms")
        used = f"{used['server']}, {used['database']}, {used['client']}" if used else "-"
        lines.append(f"| {r['disk']} | {r['design']} | {r['scenario']} | {r['clients']} | "
                     f"{r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {used} | "
                     f"{r['idle_pct']} | "
                     f"{ {True: 'yes', False: 'NO'}.get(r.get('gap_free'), '-')} | "
                     f"{ {True: 'yes', False: 'NO'}.get(r.get('chain_verifies'), '-')} |")
    return "\n".join(lines)


def ratios(rows):
    def rps(disk, design, scenario, clients):
        """Requests per second of that run, or the mean of those runs."""
        runs = [r["rps"] for r in rows if r["disk"].startswith(disk) and
                r["design"] == design and r["scenario"] == scenario and r["clients"] == clients]
        return sum(runs) / len(runs) if runs else None

    lines = ["| ratio | machine disk | slow disk |", "|---|---|---|"]
    for clients in HOT:
        lines.append(f"| invx ÷ naive, one hot series, {clients} clients | "
                     f"{ratio(rps('machine', 'invx', 'one hot series', clients), rps('machine', 'naive', 'one hot series', clients))} | "  # noqa: E501
                     f"{ratio(rps('slow', 'invx', 'one hot series', clients), rps('slow', 'naive', 'one hot series', clients))} |")  # noqa: E501
    lines.append("| invx ÷ naive, 64 series, 64 clients | "
                 f"{ratio(rps('machine', 'invx', '64 series', 64), rps('machine', 'naive', '64 series', 64))} | "  # noqa: E501
                 f"{ratio(rps('slow', 'invx', '64 series', 64), rps('slow', 'naive', '64 series', 64))} |")  # noqa: E501
    lines.append("| invx ÷ ceiling, one hot series, 64 clients (mean of two runs each) | "
                 f"{ratio(rps('machine', 'invx', 'one hot series', 64), rps('machine', 'ceiling', 'one hot series', 64))} | "  # noqa: E501
                 f"{ratio(rps('slow', 'invx', 'one hot series', 64), rps('slow', 'ceiling', 'one hot series', 64))} |")  # noqa: E501
    lines.append("| series of 1M entries ÷ empty series, 32 clients (mean of two runs each) | "
                 f"{ratio(rps('machine', 'invx', 'series of 1M entries', 32), rps('machine', 'invx', 'empty series', 32))} | - |")  # noqa: E501
    return "\n".join(lines)


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?")
    pg = subprocess.run(["/usr/lib/postgresql/15/bin/postgres", "--version"],
                        capture_output=True, text=True).stdout.strip()
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) // 1024 // 1024} GiB, "
            f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
            f"{pg}")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--no-million", dest="million", action="store_false",
                        help="skip the 1,000,000-entry series")
    parser.add_argument("--no-spread", dest="spread", action="store_false",
                        help="skip the 64-series runs")
    parser.add_argument("--clients", type=lambda v: [int(n) for n in v.split(",")],
                        default=list(HOT), help="the hot-series client counts (1,8,32,64)")
    parser.add_argument("--disks", default="machine,slow",
                        help="which disks: machine, slow or both (machine,slow)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    log = Path(tempfile.gettempdir()) / f"invx-bench-{int(time.time())}.log"
    started = datetime.now(UTC)
    print(f"invx benchmark: {args.duration:g} s a run; gunicorn logs in {log}")
    rows = []
    if "machine" in args.disks:
        rows += bench_disk("machine disk", None, args, log)
    if "slow" in args.disks:
        rows += bench_disk("slow disk (+1 ms fsync)", build_slow_fsync(), args, log)
    report = (f"# invx benchmarks\n\nMeasured {started:%Y-%m-%d %H:%M} UTC with "
              f"`make bench` (`python -m bench.run --duration {args.duration:g}`), on "
              f"{machine()}. The server is gunicorn with `gunicorn.conf.py` (the production "
              "configuration); the load generator (`bench/load.py`) is a separate process on "
              "loopback; each disk is a throwaway PostgreSQL 15 cluster (the slow one with "
              "an LD_PRELOAD shim adding 1 ms to fsync/fdatasync). Every figure in one table "
              "comes from the same run: compare the ratios, not the absolute numbers, which "
              f"move with the machine's load.\n\n## Ratios\n\n{ratios(rows)}\n\n"
              f"## Runs\n\n{table(rows)}\n")
    Path(args.output).write_text(report)
    print("\n" + ratios(rows) + "\n\n" + table(rows) + f"\n\nwritten to {args.output}")
    bad = [r for r in rows if r["errors"] or r.get("gap_free") is False
           or r.get("chain_verifies") is False]
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
