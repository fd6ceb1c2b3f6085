"""``make profile``: where entry requests spend their time.

By default (pyinstrument), one request at a time: a throwaway PostgreSQL cluster, the app
in-process (no HTTP server, no load generator: only invx's own work), entries written one
after another into one series; it prints the profile and the mean time of one request.

With ``--perf``, the same load, and Linux ``perf`` sampling every process on both cores:
the share of all CPU time that the workers, the database, the rest (the load generator)
and idleness take, and the shared objects the workers spend theirs in (the interpreter,
psycopg2 and libpq, OpenSSL, the kernel...). It sees C code and the kernel, and it does
not count a process that holds the GIL while the kernel has put it aside, which py-spy's
GIL samples do (they put 13% in psycopg2's C code, where perf finds 0.4%: most likely
time a worker spent descheduled after waking PostgreSQL).

With ``--under-load`` (py-spy), what limits throughput: invx under gunicorn with the
production configuration, 64 clients on one hot series from the load generator (or over
``--series`` series of ``--accounts`` accounts: ``--series 64`` is ``make bench``'s
64-series scenario), and py-spy sampling the workers only while they hold the GIL, that is,
their Python CPU. It prints the CPU per request of the server, the database and the load
generator, and the functions that hold the GIL most. ``--perf`` takes ``--series`` and
``--accounts`` too.
"""
import argparse
import collections
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from . import cpu
from .cluster import Cluster

FRAME = re.compile(r"(?P<function>.*) \((?P<file>.*?):\d+\)")
PERF_ROW = re.compile(r"\s*(?P<share>[\d.]+)%\s+(?P<pid>\d+):\S*\s+(?P<object>.+?)\s*$")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--under-load", action="store_true",
                        help="profile gunicorn's workers with py-spy under 64 clients")
    parser.add_argument("--perf", action="store_true",
                        help="sample every process with Linux perf under 64 clients")
    parser.add_argument("--duration", type=float, default=8.0,
                        help="seconds, --under-load and --perf")
    parser.add_argument("--series", type=int, default=1,
                        help="series the 64 clients spread over, --under-load and --perf")
    parser.add_argument("--accounts", type=int, default=1,
                        help="accounts the series are spread over")
    args = parser.parse_args()
    if not 1 <= args.accounts <= args.series:
        parser.error("--accounts must be between 1 and --series")
    if args.perf:
        with_perf(args.duration, args.series, args.accounts)
    elif args.under_load:
        under_load(args.duration, args.series, args.accounts)
    else:
        one_at_a_time(args.requests)


@contextlib.contextmanager
def _loaded(out, clients, series, accounts):
    """(cluster, server, targets) of invx under gunicorn on a throwaway cluster, ``series``
    series of ``accounts`` accounts warmed up by ``clients`` clients; the server stops on
    leaving."""
    from .harness import account_keys, invx_targets, load, prepare
    from .servers import Server
    with Cluster("profile") as cluster:
        env, key = prepare(cluster)
        keys = account_keys(env, key, accounts)
        server = Server(env, Path(out) / "gunicorn.log")
        try:
            targets = invx_targets(server.url, keys, series, "profiled")
            load(targets, clients, 2, 0.5)  # warm up: connections, the signing key
            yield cluster, server, targets
        finally:
            server.stop()


def _print_load(result, clients, duration, series):
    where = "one hot series" if series == 1 else f"{series} series"
    print(f"{clients} clients, {where}, {duration:g} s: {result['rps']} req/s, "
          f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, errors {result['errors']}")
    print("CPU ms per request: " + ", ".join(f"{name} {ms}" for name, ms in
                                             result["cpu_ms"].items())
          + f"; the machine idle {result['idle_pct']}% of the time")


def with_perf(duration, series=1, accounts=1, clients=64):
    from .harness import load
    perf = shutil.which("perf")
    if perf is None:
        print("perf is not installed (Debian: apt install linux-perf)")
        return
    with tempfile.TemporaryDirectory() as out, _loaded(out, clients, series, accounts) as (
            cluster, server, targets):
        data = str(Path(out) / "perf.data")
        recorded = []

        def record():
            recorded.append(subprocess.run(
                [perf, "record", "--all-cpus", "--freq", "999", "--output", data, "--",
                 "sleep", str(max(duration - 3, 1))], capture_output=True, text=True))

        # Sampling starts after the load generator's warm-up and stops before its end.
        recorder = threading.Timer(1.5, record)
        recorder.start()
        result = load(targets, clients, duration, 0.5,
                      {"server": server.process.pid, "database": cluster.postmaster_pid})
        recorder.join()
        if recorded[0].returncode != 0:  # not root, or kernel.perf_event_paranoid too high
            print(f"perf record failed: {recorded[0].stderr.strip()}")
            return
        roles = {**dict.fromkeys(cpu.family(cluster.postmaster_pid), "database"),
                 **dict.fromkeys(cpu.family(server.process.pid), "server"), 0: "idle"}
        _print_load(result, clients, duration, series)
        shares, server_objects = collections.Counter(), collections.Counter()
        for share, pid, shared_object in _perf_report(perf, data):
            role = roles.get(pid, "load generator, other")
            shares[role] += share
            if role == "server":
                server_objects[shared_object] += share
        print("\nshare of both cores' time (perf, every process):")
        for role, share in shares.most_common():
            print(f"{share:6.2f}%  {role}")
        print("\nthe server's share, by shared object:")
        for name, share in server_objects.most_common(15):
            print(f"{share:6.2f}%  {name}")


def _perf_report(perf, data):
    """[(percent of all samples, pid, shared object)] from ``perf report``."""
    report = subprocess.run([perf, "report", "--input", data, "--sort", "pid,dso", "--stdio",
                             "--quiet"], capture_output=True, text=True, check=True)
    rows = []
    for line in report.stdout.splitlines():
        match = PERF_ROW.match(line)
        if match:
            rows.append((float(match["share"]), int(match["pid"]), match["object"]))
    return rows


def under_load(duration, series=1, accounts=1, clients=64):
    from .harness import PYTHON, ROOT, load
    with tempfile.TemporaryDirectory() as out, _loaded(out, clients, series, accounts) as (
            cluster, server, targets):
        spies = [subprocess.Popen(
            [str(Path(PYTHON).parent / "py-spy"), "record", "--gil", "--nonblocking",
             "--rate", "200", "--duration", str(int(duration)), "--format", "raw",
             "--output", str(Path(out) / f"{pid}.txt"), "--pid", str(pid)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for pid in cpu.family(server.process.pid)[1:]]
        result = load(targets, clients, duration, 0.2,
                      {"server": server.process.pid, "database": cluster.postmaster_pid})
        for spy in spies:
            spy.wait(timeout=duration + 60)
        _print_load(result, clients, duration, series)
        _print_gil_profile(sorted(Path(out).glob("*.txt")))


def _print_gil_profile(paths, top=30):
    """The functions in which the workers held the GIL: inclusive and self shares."""
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():  # py-spy's raw output can end with a cut line
                continue
            names = []
            for frame in stack.split(";"):
                match = FRAME.match(frame)
                names.append(f"{match['function']} ({match['file'].split('site-packages/')[-1]})"
                             if match else frame)
            total += int(count)
            own[names[-1]] += int(count)
            for name in set(names):
                inclusive[name] += int(count)
    if not total:
        print("py-spy recorded nothing (it needs ptrace: run as root)")
        return
    print(f"\nGIL held, {total} samples; share of them in each function and what it calls:")
    skip = ("threading.py", "concurrent/futures", "gunicorn/arbiter", "runpy", "app/base.py",
            "wsgiapp.py", "__main__")
    shown = [(name, count) for name, count in inclusive.most_common()
             if not any(part in name for part in skip)]
    for name, count in shown[:top]:
        print(f"{100 * count / total:5.1f}%  {name}")
    print("\nshare in the function itself:")
    for name, count in own.most_common(top // 2):
        print(f"{100 * count / total:5.1f}%  {name}")


def one_at_a_time(requests):
    from pyinstrument import Profiler
    with Cluster("profile") as cluster:
        os.environ.update(INVX_SECRET_KEY=secrets.token_urlsafe(32), INVX_LOG_LEVEL="WARNING")
        import flask_migrate

        from invx import create_app
        from invx.accounts import create_account
        from invx.config import Settings
        app = create_app(Settings.from_environment(database_url=cluster.url))
        with app.app_context():
            flask_migrate.upgrade()
            _, key = create_account("profile", "ES", "B12345678", None, "none")
        client, headers = app.test_client(), {"Authorization": f"Bearer {key}"}
        series = str(uuid.uuid4())
        client.put(f"/sequence/v1/series/{series}", json={"name": "p", "prefix": "INV-"},
                   headers=headers)

        def entry():
            response = client.put(f"/sequence/v1/series/{series}/entries/{uuid.uuid4()}",
                                  json={"meta": {"k": "v"}}, headers=headers)
            assert response.status_code == 200, response.data

        for _ in range(20):  # warm up: the signing key, caches, connections
            entry()
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        for _ in range(requests):
            entry()
        profiler.stop()
        elapsed = time.perf_counter() - started
        print(profiler.output_text(unicode=False, color=False))
        print(f"{requests} entry requests, one at a time: "
              f"{elapsed / requests * 1000:.2f} ms each")
        with app.app_context():
            from invx.extensions import db
            db.engine.dispose()


if __name__ == "__main__":
    main()
