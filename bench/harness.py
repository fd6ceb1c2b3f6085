"""What ``make bench``, ``bench.compare`` and ``make profile`` share: a checkout's database
and accounts, the targets the load generator drives (a URL and the API key it sends), the
load generator itself, and the series' set-up. The servers are ``servers``; the checks of
the series written, ``checks``."""
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path
from typing import NamedTuple

import requests
from sqlalchemy import text

from . import cpu

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


class Target(NamedTuple):
    """One URL template the load generator PUTs to (``{id}`` left for it), with the API
    key it sends; ``series`` is the invx series, None for a reference."""
    url: str
    key: str
    series: str | None = None


def invx_command(root):
    """The ``invx`` command of the checkout ``root`` (``python -m invx``; ``invx.cli`` in a
    checkout from before it)."""
    main = "invx" if (Path(root) / "invx" / "__main__.py").exists() else "invx.cli"
    return [PYTHON, "-m", main]


def prepare(cluster, root=ROOT):
    """Migrate a fresh cluster with the checkout at ``root`` and make an account; returns
    (server environment, API key)."""
    env = {**os.environ, "INVX_DATABASE_URL": cluster.url, "INVX_LOG_LEVEL": "WARNING",
           "INVX_SECRET_KEY": secrets.token_urlsafe(32)}
    subprocess.run([*invx_command(root), "db", "upgrade"], cwd=root, env=env, check=True,
                   capture_output=True)
    return env, create_account(env, "bench", root)


def create_account(env, name, root=ROOT):
    """A new invx account, ``invx accounts create NAME ... --api-key``; returns its key."""
    key = secrets.token_hex(20)
    subprocess.run([*invx_command(root), "accounts", "create", name, "--country", "ES",
                    "--fiscal-id", "B12345678", "--api-key", key],
                   cwd=root, env=env, check=True, capture_output=True)
    return key


def account_keys(env, key, count, root=ROOT):
    """``count`` API keys: ``key`` (prepare's account) and count - 1 new accounts'."""
    return [key, *(create_account(env, f"bench-{n}", root) for n in range(1, count))]


def load(targets, clients, duration, warmup, watch=None):
    """Run the load generator over ``targets``; with ``watch`` ({"server": pid, "database":
    pid}), also the CPU milliseconds per request each of those process families and the
    load generator used over the whole run."""
    command = [PYTHON, "-m", "bench.load", "--clients", str(clients), "--duration",
               str(duration), "--warmup", str(warmup), "--targets", "-"]
    before = {name: cpu.snapshot(pid) for name, pid in (watch or {}).items()}
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True,
                          input=json.dumps([[t.url, t.key] for t in targets]),
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
    """The same, for a new series of a reference (``naive`` or ``ceiling``) of the bare
    app served at ``base``."""
    return f"{base}/{design}/{uuid.uuid4()}/entries/{{id}}"


def new_series(base, key, name, session=requests):
    series_id = str(uuid.uuid4())
    response = session.put(f"{base}/sequence/v1/series/{series_id}",
                           json={"name": name, "prefix": "INV-", "padding": 7},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
    response.raise_for_status()
    return series_id


def invx_targets(base, keys, count, name):
    """``count`` new series of invx, the n-th of the account ``keys[n % len(keys)]``."""
    with requests.Session() as session:
        targets = []
        for n in range(count):
            key = keys[n % len(keys)]
            series_id = new_series(base, key, f"{name}-{n}", session)
            targets.append(Target(entries_url(base, series_id), key, series_id))
    return targets


def reference_targets(base, design, keys, count):
    """``count`` new series of a reference, spread over the keys as ``invx_targets``."""
    return [Target(reference_url(base, design), keys[n % len(keys)]) for n in range(count)]


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


def settle(engine):
    """Vacuum and analyse the entries, then a checkpoint: the next run starts clean."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE entries"))
        connection.execute(text("CHECKPOINT"))
