"""Two checkouts of invx side by side: is a change faster?

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b [--rounds 3]

Serves both checkouts with the production gunicorn configuration against one throwaway
PostgreSQL cluster, migrated by the first (put the one with the newer schema first). Then
it drives them in turn, A, B, A, B...: the same clients, on a fresh hot series each run,
or spread over ``--series`` series (of ``--accounts`` accounts: ``--series 1000
--accounts 10`` is ``make bench``'s 1,000-series scenario). On a shared machine whose
speed drifts from one minute to the next, only runs interleaved like this compare two
versions. It prints the median of each side: requests/s, the CPU milliseconds per request
of the server and the database (on two shared cores, CPU per request is what throughput
follows), and the share of the machine's CPU time nothing used (what CPU per request does
not explain).

    python -m bench.compare /path/to/checkout [/path/to/other] --ceiling [--naive]

With ``--ceiling``, every round begins with a run against the HTTP ceiling, and with
``--naive`` ends with one against the naive design: both are the bare reference app's
(``bench/bare``, this checkout's), under ``--reference-class`` (gevent unless said; ``make
bench`` tries both and counts the better). Each side's median is also given as a fraction
of theirs: invx ÷ ceiling or ÷ naive measured over many interleaved rounds, where ``make
bench`` has one or two runs of each.

    python -m bench.compare /path/to/checkout-a /path/to/checkout-b --own-ceilings

For a change that touches what the ceiling runs too (gunicorn's settings, the bare app),
each checkout is measured against its own ceiling (its own ``bench/bare`` if it has one,
else this checkout's): in every round, each checkout's ceiling then its invx, the
checkouts' order turning from round to round. Each side is given as the median of its
rounds' invx ÷ ceiling, two runs that followed each other, and the ratio of its medians.
"""
import argparse
import collections
import itertools
import statistics
import tempfile
from pathlib import Path
from typing import NamedTuple

from .bare import schema
from .cluster import Cluster
from .harness import ROOT, account_keys, invx_targets, load, prepare, reference_targets
from .servers import WORKER_CLASSES, ReferenceServer, Server

CEILING, NAIVE = "HTTP ceiling", "naive design"


class Side(NamedTuple):
    """One run of each round: its label, the server it drives, and ``invx``, ``ceiling``
    or ``naive``."""
    label: str
    server: object
    kind: str


def _arguments():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkouts", nargs="+", type=Path, help="one or two checkouts")
    parser.add_argument("--ceiling", action="store_true",
                        help="run the HTTP ceiling too, first in every round")
    parser.add_argument("--own-ceilings", action="store_true",
                        help="each checkout against its own ceiling, run just before it")
    parser.add_argument("--naive", action="store_true",
                        help="run the naive design too, last in every round")
    parser.add_argument("--reference-class", choices=WORKER_CLASSES, default="gevent",
                        help="the references' gunicorn worker class (gevent)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--series", type=int, default=1, help="series the clients spread over")
    parser.add_argument("--accounts", type=int, default=1,
                        help="accounts the series are spread over (1)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    args = parser.parse_args()
    references = args.ceiling or args.naive or args.own_ceilings
    if not 1 <= len(args.checkouts) <= 2 or (len(args.checkouts) == 1 and not references):
        parser.error("give two checkouts, or one with --ceiling, --naive or --own-ceilings")
    if args.own_ceilings and args.ceiling:
        parser.error("--ceiling or --own-ceilings, not both")
    if not 1 <= args.accounts <= args.series:
        parser.error("--accounts must be between 1 and --series")
    return args


def _own_bare_app(checkout):
    """The checkout whose bare app serves ``checkout``'s own ceiling."""
    return checkout if (checkout / "bench" / "bare" / "app.py").exists() else ROOT


def _groups(args, env, cluster, logs, servers):
    """The runs of a round, as groups kept together (a checkout's own ceiling and its
    invx); the servers they need are started and added to ``servers``."""
    def start(server_class, *arguments):
        servers.append(server_class(*arguments))
        return servers[-1]

    checkouts = [checkout.resolve() for checkout in args.checkouts]
    twice = len(set(checkouts)) < len(checkouts)  # one checkout against itself
    sides = [Side(f"{checkout} ({'AB'[n]})" if twice else str(checkout),
                  start(Server, env, Path(logs) / f"{n}.log", checkout), "invx")
             for n, checkout in enumerate(checkouts)]
    shared = None
    if args.ceiling or args.naive:
        shared = start(ReferenceServer, env, cluster.url, args.reference_class,
                       Path(logs) / "bare.log")
    if args.own_ceilings:
        groups = [[Side(f"{side.label} {CEILING}",
                        start(ReferenceServer, env, cluster.url, args.reference_class,
                              Path(logs) / f"bare-{n}.log", _own_bare_app(checkout)),
                        "ceiling"), side]
                  for n, (checkout, side) in enumerate(zip(checkouts, sides, strict=True))]
    else:
        groups = [[*([Side(CEILING, shared, "ceiling")] if args.ceiling else []), *sides]]
    if args.naive:
        groups.append([Side(NAIVE, shared, "naive")])
    return groups


def _rounds(args, groups, keys, cluster):
    """{label: {figure: [value of each round]}}, the rounds run and printed."""
    results = {side.label: collections.defaultdict(list) for group in groups for side in group}
    for round_ in range(args.rounds):
        turn = round_ % len(groups)
        for n, side in enumerate(itertools.chain(*groups[turn:], *groups[:turn])):
            base = side.server.url
            targets = (invx_targets(base, keys, args.series, f"r{round_}-{n}")
                       if side.kind == "invx" else
                       reference_targets(base, side.kind, keys, args.series))
            result = load(targets, args.clients, args.duration, 0.5,
                          {"server": side.server.process.pid,
                           "database": cluster.postmaster_pid})
            for name, value in [("req/s", result["rps"]), ("p99 ms", result["p99_ms"]),
                                *((f"{name} CPU ms/req", ms)
                                  for name, ms in result["cpu_ms"].items()),
                                ("machine idle %", result["idle_pct"])]:
                results[side.label][name].append(value)
            print(f"{side.label}: {result['rps']} req/s, p99 {result['p99_ms']} ms, "
                  f"errors {result['errors']}, CPU ms/req {result['cpu_ms']}, "
                  f"machine idle {result['idle_pct']}%", flush=True)
    return results


def main():
    args = _arguments()
    with Cluster("compare") as cluster, tempfile.TemporaryDirectory() as logs:
        env, key = prepare(cluster, root=args.checkouts[0])
        keys = account_keys(env, key, args.accounts, root=args.checkouts[0])
        if args.naive:
            schema.create(cluster.url, keys)
        servers = []
        try:
            results = _rounds(args, _groups(args, env, cluster, logs, servers), keys,
                              cluster)
        finally:
            for server in servers:
                server.stop()
    for label, figures in results.items():
        print(f"{label}: medians: " + ", ".join(
            f"{name} {round(statistics.median(values), 2)}" for name, values in figures.items())
            + _share(label, results, args.own_ceilings))
        print(f"    req/s of each run: {figures['req/s']}")


def _share(label, results, own_ceilings):
    """`` (… x the ceiling, … x naive)`` for an invx side, compared with the references
    that ran; else ``""``."""
    if label.endswith(CEILING) or label == NAIVE:
        return ""
    runs, shares = results[label]["req/s"], []
    ceiling = results.get(f"{label} {CEILING}" if own_ceilings else CEILING)
    if ceiling is not None:
        ceilings = ceiling["req/s"]
        share = statistics.median(runs) / statistics.median(ceilings)
        if own_ceilings:
            rounds = [run / top for run, top in zip(runs, ceilings, strict=True)]
            shares.append(f"{statistics.median(rounds):.2f} x its ceiling, median of the "
                          f"rounds {[round(r, 2) for r in rounds]}; {share:.2f} x as a ratio "
                          "of medians")
        else:
            shares.append(f"{share:.2f} x the ceiling")
    if NAIVE in results:
        shares.append(f"{statistics.median(runs) / statistics.median(results[NAIVE]['req/s']):.2f}"
                      " x the naive design")
    return f" ({'; '.join(shares)})" if shares else ""


if __name__ == "__main__":
    main()
