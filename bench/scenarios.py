"""The scenarios of ``make bench`` on one disk: invx, and the references under each of
their two worker classes, on the same throwaway cluster. Each run of the load generator
becomes a row (``report``); after every invx run its series are checked (``checks``)."""
import time

from .checks import check
from .harness import invx_targets, load, prefill, reference_targets, settle
from .report import EMPTY, HOT, MILLION, SPREAD, THOUSAND
from .servers import WORKER_CLASSES

PREFILL = 1_000_000
ACCOUNTS = 10


class Disk:
    """One disk's cluster and servers (invx; the bare app under each worker class), and the
    accounts' keys (``keys[0]`` the hot series'); ``rows``, one for each run."""

    def __init__(self, label, cluster, engine, invx, references, keys, args):
        self.label, self.cluster, self.engine, self.args = label, cluster, engine, args
        self.invx_server, self.references = invx, references
        self.keys, self.rows = keys, []

    def _run(self, server, design, scenario, clients, targets, worker_class=None):
        print(f"  {self.label}: {design + (f' ({worker_class})' if worker_class else ''):<16}"
              f" {scenario:<22} {clients:>2} clients", end="", flush=True)
        result = load(targets, clients, self.args.duration, self.args.warmup,
                      {"server": server.process.pid, "database": self.cluster.postmaster_pid})
        result.update(disk=self.label, design=design, worker_class=worker_class,
                      scenario=scenario, clients=clients)
        self.rows.append(result)
        return result

    def _print(self, result):
        print(f" {result['rps']:>8} req/s  p50 {result['p50_ms']} ms  p99 "
              f"{result['p99_ms']} ms  errors {result['errors']}  CPU ms/request "
              f"{result.get('cpu_ms')}  idle {result['idle_pct']}%", flush=True)

    def invx(self, scenario, clients, targets, verify=True):
        """A run of invx over ``targets``, then the check of their series."""
        result = self._run(self.invx_server, "invx", scenario, clients, targets)
        started = time.monotonic()
        checked = check(self.invx_server.url, self.engine, targets, verify)
        result.update(gap_free=checked.gap_free, chain_verifies=checked.chain_verifies)
        self._print(result)
        print(f"    checked {checked.series} series, {checked.entries} entries: gap-free "
              f"{checked.gap_free}, chains verify {checked.chain_verifies} "
              f"({time.monotonic() - started:.1f} s)", flush=True)

    def reference(self, design, scenario, clients, series, worker_classes=WORKER_CLASSES,
                  keys=None):
        """A run of a reference over ``series`` new series, under each worker class."""
        for worker_class in worker_classes:
            server = self.references[worker_class]
            targets = reference_targets(server.url, design, keys or self.keys[:1], series)
            self._print(self._run(server, design, scenario, clients, targets, worker_class))

    def series(self, count, name, keys=None):
        return invx_targets(self.invx_server.url, keys or self.keys[:1], count, name)


def hot_series(disk, clients_counts):
    for clients in clients_counts:
        disk.invx(HOT, clients, disk.series(1, f"hot-{clients}"))
        disk.reference("naive", HOT, clients, 1)
    # The ceiling twice under each class, then invx at 64 clients once more: invx,
    # ceiling (gevent, gthread, gthread, gevent), invx, so that a drift of the machine's
    # speed weighs on both sides alike (the ratio is of means, as for the 1M series).
    disk.reference("ceiling", HOT, 64, 1, WORKER_CLASSES)
    disk.reference("ceiling", HOT, 64, 1, WORKER_CLASSES[::-1])
    if 64 in clients_counts:
        disk.invx(HOT, 64, disk.series(1, "hot-64-again"))


def spread(disk):
    disk.invx(SPREAD, 64, disk.series(64, "spread"))
    disk.reference("naive", SPREAD, 64, 64)


def thousand(disk):
    """64 clients over 1,000 series of ``ACCOUNTS`` accounts (100 series each), every
    series' numbers checked in SQL and every chain verified."""
    targets = disk.series(1000, "thousand", disk.keys)
    disk.invx(THOUSAND, 64, targets)
    disk.reference("naive", THOUSAND, 64, 1000, keys=disk.keys)


def million(disk):
    big = disk.series(1, "million")
    prefill(disk.engine, big[0].series, PREFILL)
    # Two runs each, in the order 1M, empty, empty, 1M, so that a drift of the machine's
    # speed weighs on both alike; each run starts from a checkpoint, so none pays for one
    # that the bulk load above or a run before set off.
    for which in (MILLION, EMPTY, EMPTY, MILLION):
        settle(disk.engine)
        if which == MILLION:
            disk.invx(MILLION, 32, big, verify=False)
        else:
            disk.invx(EMPTY, 32, disk.series(1, "empty"))
