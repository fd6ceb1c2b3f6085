"""Two checkouts of invx side by side: is a change faster?

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b [--rounds 3]

Serves both checkouts with the production gunicorn configuration against one throwaway
PostgreSQL cluster, migrated by the first (put the one with the newer schema first). Then
it drives them in turn, A, B, A, B...: the same clients, on a fresh hot series each run,
or spread over ``--series`` series. On a shared machine whose speed drifts from one
minute to the next, only runs interleaved like this compare two versions. It prints the
median of each side: requests/s, and the CPU milliseconds per request of the server and
the database (on two shared cores, CPU per request is what throughput follows).

    python -m bench.compare /path/to/checkout [/path/to/other] --ceiling

With ``--ceiling``, every round begins with a run against the HTTP ceiling (the first
checkout's no-database endpoint, ``invx/bench_api.py``), and each side's median is also
given as a fraction of the ceiling's: invx ÷ ceiling measured over many interleaved rounds,
where ``make bench`` has two runs of each.
"""
import argparse
import collections
import statistics
import tempfile
from pathlib import Path

from .cluster import Cluster
from .run import Server, entries_url, load, new_series, prepare, reference_url


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path, help="one or two checkouts")
    parser.add_argument("--ceiling", action="store_true",
                        help="run the HTTP ceiling too, first in every round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--series", type=int, default=1, help="series the clients spread over")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    args = parser.parse_args()
    if not 1 <= len(args.checkouts) <= 2 or len(args.checkouts) + args.ceiling < 2:
        parser.error("give two checkouts, or one with --ceiling")
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
        results = {label: collections.defaultdict(list) for label, _, _ in sides}
        try:
            for round_ in range(args.rounds):
                for label, server, kind in sides:
                    urls = [reference_url(server.url, kind) if kind == "ceiling" else
                            entries_url(server.url, new_series(server.url, key, f"r{round_}-{n}"))
                            for n in range(args.series)]
                    result = load(urls, key, args.clients, args.duration, 0.5,
                                  {"server": server.process.pid,
                                   "database": cluster.postmaster_pid})
                    for name, value in [("req/s", result["rps"]), ("p99 ms", result["p99_ms"]),
                                        *((f"{name} CPU ms/req", ms)
                                          for name, ms in result["cpu_ms"].items())]:
                        results[label][name].append(value)
                    print(f"{label}: {result['rps']} req/s, p99 {result['p99_ms']} ms, "
                          f"errors {result['errors']}, CPU ms/req {result['cpu_ms']}",
                          flush=True)
        finally:
            for server in servers:
                server.stop()
    ceiling = statistics.median(results[CEILING]["req/s"]) if args.ceiling else None
    for label, figures in results.items():
        median = statistics.median(figures["req/s"])
        share = f" ({median / ceiling:.2f} x the ceiling)" if ceiling and label != CEILING else ""
        print(f"{label}: medians: " + ", ".join(
            f"{name} {round(statistics.median(values), 2)}" for name, values in figures.items())
            + share)
        print(f"    req/s of each run: {figures['req/s']}")


CEILING = "HTTP ceiling"


if __name__ == "__main__":
    main()
