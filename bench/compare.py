"""Two checkouts of invx side by side: is a change faster?

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b [--rounds 3]

Serves both checkouts with the production gunicorn configuration against one throwaway
PostgreSQL cluster, migrated by the first (put the one with the newer schema first). Then
it drives them in turn, A, B, A, B...: the same clients, on a fresh hot series each run,
or spread over ``--series`` series. On a shared machine whose speed drifts from one
minute to the next, only runs interleaved like this compare two versions. It prints the
median of each side: requests/s, and the CPU milliseconds per request of the server and
the database (on two shared cores, CPU per request is what throughput follows).
"""
import argparse
import collections
import statistics
import tempfile
from pathlib import Path

from .cluster import Cluster
from .run import Server, load, new_series, prepare


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs=2, type=Path)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--series", type=int, default=1, help="series the clients spread over")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    args = parser.parse_args()
    with Cluster("compare") as cluster, tempfile.TemporaryDirectory() as logs:
        env, key = prepare(cluster, root=args.checkouts[0])
        servers = [Server(env, Path(logs) / f"{n}.log", root=checkout.resolve())
                   for n, checkout in enumerate(args.checkouts)]
        results = {checkout: collections.defaultdict(list) for checkout in args.checkouts}
        try:
            for round_ in range(args.rounds):
                for checkout, server in zip(args.checkouts, servers, strict=True):
                    urls = [f"{server.url}/sequence/v1/series/"
                            f"{new_series(server.url, key, f'r{round_}-{n}')}/entries/{{id}}"
                            for n in range(args.series)]
                    result = load(urls, key, args.clients, args.duration, 0.5,
                                  {"server": server.process.pid,
                                   "database": cluster.postmaster_pid})
                    for name, value in [("req/s", result["rps"]), ("p99 ms", result["p99_ms"]),
                                        *((f"{name} CPU ms/req", ms)
                                          for name, ms in result["cpu_ms"].items())]:
                        results[checkout][name].append(value)
                    print(f"{checkout}: {result['rps']} req/s, p99 {result['p99_ms']} ms, "
                          f"errors {result['errors']}, CPU ms/req {result['cpu_ms']}",
                          flush=True)
        finally:
            for server in servers:
                server.stop()
    for checkout, figures in results.items():
        print(f"{checkout}: medians: " + ", ".join(
            f"{name} {round(statistics.median(values), 2)}" for name, values in figures.items()))
        print(f"    req/s of each run: {figures['req/s']}")


if __name__ == "__main__":
    main()
