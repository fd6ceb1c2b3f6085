"""``make bench``: invx's numbering against the HTTP ceiling and the naive design.

For each disk (this machine's, and a slow one whose fsync/fdatasync take 1 ms more) it
starts a throwaway PostgreSQL cluster, migrates it, and serves on it, each under gunicorn
with the same settings: invx alone, with its production configuration; and the bare
reference app (``bench/bare``: the ceiling and the naive design, nothing of invx's) once
under gevent and once under gthread, the better of the two counting. A separate
load-generator process drives them on loopback: one hot series at 1, 8, 32 and 64
clients, 64 clients over 64 series, 64 clients over 1,000 series of 10 accounts, and a
series that already holds 1,000,000 entries against an empty one. The figures compared to
the ceiling and to the 1,000,000-entry series are means of two runs each, in an order that
makes a drift of the machine's speed weigh on both sides alike (invx, ceiling, ceiling,
invx). After every invx run its series are checked: gap-free, and their chains verify. It
prints the ratios of issue 20's targets, each marked met or not, and every run, and writes
them, with the command and the machine, to docs/benchmarks.md. It stops by itself; its exit
status is 1 if any request failed, or any series has a gap or a chain that does not verify.
"""
import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

from . import report, scenarios
from .bare import schema
from .cluster import Cluster, build_slow_fsync
from .harness import ROOT, account_keys, prepare
from .servers import WORKER_CLASSES, ReferenceServer, Server

HOT = (1, 8, 32, 64)


def _servers(env, cluster, log):
    """invx, and the bare app under each worker class: {class: server}."""
    invx, references = Server(env, log), {}
    try:
        for worker_class in WORKER_CLASSES:
            references[worker_class] = ReferenceServer(env, cluster.url, worker_class, log)
    except BaseException:
        for server in [invx, *references.values()]:
            server.stop()
        raise
    return invx, references


def bench_disk(label, preload, args, log):
    with Cluster(label.split()[0], preload=preload) as cluster:
        env, key = prepare(cluster)
        keys = account_keys(env, key, scenarios.ACCOUNTS if args.thousand else 1)
        schema.create(cluster.url, keys)
        engine = create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg2://"))
        invx, references = _servers(env, cluster, log)
        disk = scenarios.Disk(label, cluster, engine, invx, references, keys, args)
        try:
            scenarios.hot_series(disk, args.clients)
            if args.spread:
                scenarios.spread(disk)
            if args.thousand:
                scenarios.thousand(disk)
            if args.million and preload is None:
                scenarios.million(disk)
        finally:
            for server in [invx, *references.values()]:
                server.stop()
            engine.dispose()
    return disk.rows


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


METHOD = (
    "The server under test is invx alone, as production serves it: `gunicorn -c "
    "gunicorn.conf.py invx.wsgi:app`. The references are a separate bare app "
    "(`bench/bare/`: plain Flask and psycopg2, nothing of invx's, no access log, which is "
    "one of invx's costs) under the same gunicorn settings (workers, threads, "
    "worker_connections, keepalive, timeout), run once under gevent and once under "
    "gthread; in every scenario the worker class that gave the reference more requests/s "
    "is the one that counts, for the ratios and for the p99 (the runs table says which). "
    "The HTTP ceiling answers the same PUT with an answer of invx's size, without a "
    "database. The naive design checks the API key with one query, then writes `INSERT "
    "... ON CONFLICT DO UPDATE ... RETURNING` on a counter and the entry, in one "
    "transaction. The load generator (`bench/load.py`) is a separate process on loopback; "
    "with more series than clients, each client walks through them. Each disk is a "
    "throwaway PostgreSQL 15 cluster (the slow one with an LD_PRELOAD shim adding 1 ms to "
    "fsync/fdatasync). After every invx run its series are checked: gap-free, in SQL, and "
    "every chain verified through `GET .../verify` (the 1,000,000-entry series, filled in "
    "SQL, in SQL only). invx's p99 is the worse of its runs where it ran twice. Every "
    "figure in one table comes from the same run: compare the ratios, not the absolute "
    "numbers, which move with the machine's load.")


def main():
    args = _arguments()
    log = Path(tempfile.gettempdir()) / f"invx-bench-{int(time.time())}.log"
    started = datetime.now(UTC)
    print(f"invx benchmark: {args.duration:g} s a run; gunicorn logs in {log}")
    rows = []
    if "machine" in args.disks:
        rows += bench_disk("machine disk", None, args, log)
    if "slow" in args.disks:
        rows += bench_disk("slow disk (+1 ms fsync)", build_slow_fsync(), args, log)
    ratios, runs = report.ratios(rows), report.table(rows)
    command = " ".join(["python -m bench.run", *sys.argv[1:]])
    Path(args.output).write_text(
        f"# invx benchmarks\n\nMeasured {started:%Y-%m-%d %H:%M} UTC with `make bench` "
        f"(`{command}`), on {machine()}. {METHOD}\n\n## Ratios\n\n{ratios}\n\n"
        f"## Runs\n\n{runs}\n")
    print(f"\n{ratios}\n\n{runs}\n\nwritten to {args.output}")
    sys.exit(1 if any(report.faults(rows)) else 0)


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per run")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--no-million", dest="million", action="store_false",
                        help="skip the 1,000,000-entry series")
    parser.add_argument("--no-spread", dest="spread", action="store_false",
                        help="skip the 64-series runs")
    parser.add_argument("--no-thousand", dest="thousand", action="store_false",
                        help="skip the 1,000-series runs")
    parser.add_argument("--clients", type=lambda v: [int(n) for n in v.split(",")],
                        default=list(HOT), help="the hot-series client counts (1,8,32,64)")
    parser.add_argument("--disks", default="machine,slow",
                        help="which disks: machine, slow or both (machine,slow)")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    return parser.parse_args()


if __name__ == "__main__":
    main()
