"""How long GET .../verify takes on a series of a million entries, and what a request that
touches no database waits meanwhile: ``python -m bench.verify_million``.

On a throwaway PostgreSQL cluster (or ``--database-url``, an empty database), under
gunicorn with the production configuration (gevent) and one worker, so that every
request shares the verifications' worker:

1. a series of ``--entries`` real entries is written straight in SQL (bench.signed_series);
2. the server's checkpoint is set ``--backlog`` entries before the end, as regular
   verification leaves it, and GET .../verify is timed (the backlog is checked);
3. then again with nothing new (the checkpoint's own checks: its entry, a count);
4. then without a checkpoint (the budget bounds it; the answer is valid: null);
5. four verifications at once, while GET /sequence/v1/keys is timed;
6. with ``--full``, ``invx verify`` over the whole series.
"""
import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from sqlalchemy import delete, select, text

from invx import create_app
from invx.config import Settings
from invx.extensions import db
from invx.models import Series, VerificationCheckpoint
from invx.sequence_service import checkpoints

from . import harness, servers
from .cluster import Cluster


def _build(url, secret_key, series_id, entries, backlog):
    app = create_app(Settings(database_url=url, secret_key=secret_key, log_level="WARNING"))
    started = time.monotonic()
    with app.app_context():
        def progress(done):
            print(f"  {done} entries written", file=sys.stderr, end="\r")
        from .signed_series import append
        append(series_id, entries - backlog, secret_key, progress)
        series = db.session.scalars(select(Series).where(Series.id == series_id)).one()
        last = db.session.execute(text(
            "SELECT number, id, sig FROM entries WHERE series_id = :s ORDER BY number DESC "
            "LIMIT 1"), {"s": series_id}).one()
        checkpoints.advance(series, *last, secret_key)  # as regular verification leaves it
        append(series_id, backlog, secret_key)
        db.session.commit()
    with app.app_context(), db.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE entries"))
    print(f"built {entries} entries in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return app


def _timed_verify(base, key, series_id):
    started = time.monotonic()
    response = requests.get(f"{base}/sequence/v1/series/{series_id}/verify",
                            headers={"Authorization": f"Bearer {key}"}, timeout=600)
    response.raise_for_status()
    return time.monotonic() - started, response.json()


def _starvation(base, key, series_id, verifications=4, seconds=5.0):
    """The latencies of GET /keys while ``verifications`` clients verify without pause."""
    stop, counts = time.monotonic() + seconds, []

    def verify_on():
        done = 0
        while time.monotonic() < stop:
            _timed_verify(base, key, series_id)
            done += 1
        counts.append(done)

    threads = [threading.Thread(target=verify_on) for _ in range(verifications)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    latencies = []
    while time.monotonic() < stop - 0.2:
        started = time.monotonic()
        requests.get(f"{base}/sequence/v1/keys", timeout=60).raise_for_status()
        latencies.append(time.monotonic() - started)
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    return latencies, sum(counts)


def _say(label, seconds, report):
    shown = {k: report.get(k) for k in ("valid", "entries", "first_number", "last_number",
                                        "verified_through", "remaining")}
    print(f"{label}: {seconds * 1000:.0f} ms {json.dumps(shown)}")


def run(url, entries, backlog, full, log):
    env, key = harness.prepare(type("Database", (), {"url": url}))
    server = servers.Server({**env, "INVX_WORKERS": "1"}, log)
    try:
        series_id = harness.new_series(server.url, key, "million")
        app = _build(url, env["INVX_SECRET_KEY"], series_id, entries, backlog)
        _say(f"verify, checkpoint {backlog} entries before the end",
             *_timed_verify(server.url, key, series_id))
        _say("verify again, nothing new", *_timed_verify(server.url, key, series_id))
        with app.app_context():
            db.session.execute(delete(VerificationCheckpoint))
            db.session.commit()
        _say("verify without a checkpoint", *_timed_verify(server.url, key, series_id))
        latencies, verifies = _starvation(server.url, key, series_id)
        print(f"GET /keys during 4 concurrent verifications ({verifies} done): "
              f"median {statistics.median(latencies) * 1000:.0f} ms, "
              f"max {max(latencies) * 1000:.0f} ms over {len(latencies)} requests")
        if full:
            started = time.monotonic()
            subprocess.run([*harness.invx_command(harness.ROOT), "verify", "bench", series_id,
                            "--no-progress"], cwd=harness.ROOT, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            print(f"invx verify, every entry: {time.monotonic() - started:.0f} s")
    finally:
        server.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--backlog", type=int, default=1000,
                        help="entries written after the checkpoint")
    parser.add_argument("--full", action="store_true", help="time `invx verify` too")
    parser.add_argument("--database-url", help="an empty database (default: a throwaway "
                                               "cluster)")
    args = parser.parse_args()
    log = Path(tempfile.gettempdir()) / "invx-bench-verify.log"
    if args.database_url:
        run(args.database_url, args.entries, args.backlog, args.full, log)
    else:
        with Cluster("verify") as cluster:
            run(cluster.url, args.entries, args.backlog, args.full, log)
    print(f"(server log: {log})", file=sys.stderr)


if __name__ == "__main__":
    main()
