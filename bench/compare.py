"""Two checkouts of invx side by side: is a change faster?

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b [--rounds 3]

Serves both checkouts with the production gunicorn configuration against one throwaway
PostgreSQL cluster, migrated by the first (put the one with the newer schema first). Then
it drives them in turn, A, B, A, B...: the same clients, on a fresh hot series each run,
or spread over ``--series`` series. On a shared machine whose speed drifts from one
minute to the next, only runs interleaved like this compare two versions. It prints the
median of each side: requests/s, the CPU milliseconds per request of the server and the
database (on two shared cores, CPU per request is what throughput follows), and the share
of the machine's CPU time nothing used (what CPU per request does not explain).

    python -m bench.compare /path/to/checkout [/path/to/other] --ceiling

With ``--ceiling``, every round begins with a run against the HTTP ceiling (the first
checkout's no-database endpoint, ``bench/references.py``), and each side's median is also
given as a fraction of the ceiling's: invx ÷ ceiling measured over many interleaved rounds,
where ``make bench`` has two runs of each.

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b --own-ceilings

For a change that touches what the ceiling runs too (gunicorn's settings, the app's
set-up, the interpreter's), each checkout is measured against its own ceiling: in every
round, each checkout's ceiling then its invx, the checkouts' order turning from round to
round. Each side is given as the median of its rounds' invx ÷ ceiling, two runs that
followed each other, and the ratio of its medians.
"""
import argparse
import collections
import itertools
import statistics
import tempfile
from pathlib import Path

from .cluster import Cluster
from .harness import Server, entries_url, load, new_series, prepare, reference_url


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path, help="one or two checkouts")
    parser.add_argument("--ceiling", action="store_true",
                        help="run the HTTP ceiling too, first in every round")
    parser.add_argument("--own-ceilings", action="store_true",
                        help="each checkout against its own ceiling, run just before it")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--series", type=int, default=1, help="series the clients spread over")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    args = parser.parse_args()
    if not 1 <= len(args.checkouts) <= 2 or len(args.checkouts) + args.ceiling < 2:
        parser.error("give two checkouts, or one with --ceiling")
    if args.own_ceilings and args.ceiling:
        parser.error("--ceiling or --own-ceilings, not both")
    with Cluster("compare") as cluster, tempfile.TemporaryDirectory() as logs:
        env, key = prepare(cluster, root=args.checkouts[0])
        servers = [Server(env, Path(logs) / f"{n}.log", root=checkout.resolve())
                   for n, checkout in enumerate(args.checkouts)]
        # (label, server, kind) of each run of a round, in order.
        twice = len(set(args.checkouts)) < len(args.checkouts)  # one checkout against itself
        sides = [(f"{checkout} ({'AB'[n]})" if twice else str(checkout), server, "invx")
                 for n, (checkout, server) in enumerate(zip(args.checkouts, servers,
                                                             strict=True))]
        if args.ceiling:
            sides.insert(0, (CEILING, servers[0], "ceiling"))
        # Runs that go together, in order; with --own-ceilings, each checkout's ceiling and
        # its invx, the pairs' order turning from round to round.
        groups = ([[(f"{label} {CEILING}", server, "ceiling"), (label, server, kind)]
                   for label, server, kind in sides] if args.own_ceilings else [sides])
        results = {label: collections.defaultdict(list)
                   for group in groups for label, _, _ in group}
        try:
            for round_ in range(args.rounds):
                turn = round_ % len(groups)
                for label, server, kind in itertools.chain(*groups[turn:], *groups[:turn]):
                    urls = [reference_url(server.url, kind) if kind == "ceiling" else
                            entries_url(server.url, new_series(server.url, key, f"r{round_}-{n}"))
                            for n in range(args.series)]
                    result = load(urls, key, args.clients, args.duration, 0.5,
                                  {"server": server.process.pid,
                                   "database": cluster.postmaster_pid})
                    for name, value in [("req/s", result["rps"]), ("p99 ms", result["p99_ms"]),
                                        *((f"{name} CPU ms/req", ms)
                                          for name, ms in result["cpu_ms"].items()),
                                        ("machine idle %", result["idle_pct"])]:
                        results[label][name].append(value)
                    print(f"{label}: {result['rps']} req/s, p99 {result['p99_ms']} ms, "
                          f"errors {result['errors']}, CPU ms/req {result['cpu_ms']}, "
                          f"machine idle {result['idle_pct']}%", flush=True)
        finally:
            for server in servers:
                server.stop()
    for label, figures in results.items():
        print(f"{label}: medians: " + ", ".join(
            f"{name} {round(statistics.median(values), 2)}" for name, values in figures.items())
            + _share(label, results, args.own_ceilings))
        print(f"    req/s of each run: {figures['req/s']}")


def _share(label, results, own_ceilings):
    """`` (… x the ceiling)`` for an invx side, compared with its ceiling; else ``""``."""
    ceiling = results.get(f"{label} {CEILING}" if own_ceilings else CEILING)
    if ceiling is None or label.endswith(CEILING):
        return ""
    runs, ceilings = results[label]["req/s"], ceiling["req/s"]
    share = statistics.median(runs) / statistics.median(ceilings)
    if not own_ceilings:
        return f" ({share:.2f} x the ceiling)"
    rounds = [run / top for run, top in zip(runs, ceilings, strict=True)]
    return (f" ({statistics.median(rounds):.2f} x its ceiling, median of the rounds "
            f"{[round(r, 2) for r in rounds]}; {share:.2f} x as a ratio of medians)")


CEILING = "HTTP ceiling"


if __name__ == "__main__":
    main()
