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
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from .cluster import Cluster, build_slow_fsync
from .harness import (
    ROOT,
    Server,
    check,
    entries_url,
    load,
    new_series,
    prefill,
    prepare,
    reference_url,
    settle,
)
from .references import NAIVE_TABLES

HOT = (1, 8, 32, 64)
PREFILL = 1_000_000


class _Runs:
    """Runs of the load generator on one disk's server; each becomes a row of the table."""

    def __init__(self, label, server, cluster, engine, key, args):
        self.label, self.server, self.cluster, self.engine = label, server, cluster, engine
        self.key, self.args, self.base, self.rows = key, args, server.url, []

    def series(self, name):
        return new_series(self.base, self.key, name)

    def __call__(self, design, scenario, clients, urls, series=(), full_verify=True):
        print(f"  {self.label}: {design:<7} {scenario:<22}", end="", flush=True)
        result = load(urls, self.key, clients, self.args.duration, self.args.warmup,
                      {"server": self.server.process.pid,
                       "database": self.cluster.postmaster_pid})
        result.update(disk=self.label, design=design, scenario=scenario, clients=clients)
        checks = [check(self.base, self.key, self.engine, s, full_verify) for s in series]
        if checks:
            result["gap_free"] = all(c["gap_free"] for c in checks)
            result["chain_verifies"] = all(c["chain_verifies"] in (True, None) for c in checks)
        print(f" {result['rps']:>8} req/s  p50 {result['p50_ms']} ms  p99 "
              f"{result['p99_ms']} ms  errors {result['errors']}  CPU ms/request "
              f"{result.get('cpu_ms')}  idle {result['idle_pct']}%")
        self.rows.append(result)


def _hot_series(run, clients_counts):
    base = run.base
    for clients in clients_counts:
        series = run.series(f"hot-{clients}")
        run("invx", "one hot series", clients, [entries_url(base, series)], [series])
        run("naive", "one hot series", clients, [reference_url(base, "naive")])
    # The ceiling twice, then invx at 64 clients once more: the order invx, ceiling,
    # ceiling, invx, so that a drift of the machine's speed weighs on both alike (the
    # ratio is of means, as for the 1,000,000-entry series).
    ceiling = [reference_url(base, "ceiling")]
    run("ceiling", "one hot series", 64, ceiling)
    run("ceiling", "one hot series", 64, ceiling)
    if 64 in clients_counts:
        series = run.series("hot-64-again")
        run("invx", "one hot series", 64, [entries_url(base, series)], [series])


def _spread(run):
    spread = [run.series(f"spread-{n}") for n in range(64)]
    run("invx", "64 series", 64, [entries_url(run.base, s) for s in spread], spread)
    run("naive", "64 series", 64, [reference_url(run.base, "naive") for _ in range(64)])


def _million(run, engine):
    big = run.series("million")
    prefill(engine, big, PREFILL)
    # Two runs each, in the order 1M, empty, empty, 1M, so that a drift of the machine's
    # speed weighs on both alike; each run starts from a checkpoint, so none pays for one
    # that the bulk load above or a run before set off.
    for which in ("million", "empty", "empty", "million"):
        settle(engine)
        if which == "million":
            run("invx", "series of 1M entries", 32, [entries_url(run.base, big)], [big],
                full_verify=False)
        else:
            empty = run.series("empty")
            run("invx", "empty series", 32, [entries_url(run.base, empty)], [empty])


def bench_disk(label, preload, args, log):
    with Cluster(label.split()[0], preload=preload) as cluster:
        env, key = prepare(cluster)
        engine = create_engine(cluster.url.replace("postgresql://", "postgresql+psycopg2://"))
        with engine.begin() as connection:
            for statement in NAIVE_TABLES.split(";"):
                if statement.strip():
                    connection.execute(text(statement))
        server = Server(env, log)
        run = _Runs(label, server, cluster, engine, key, args)
        try:
            _hot_series(run, args.clients)
            if args.spread:
                _spread(run)
            if args.million and preload is None:
                _million(run, engine)
        finally:
            server.stop()
            engine.dispose()
    return run.rows


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
