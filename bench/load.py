"""The load generator: N concurrent clients PUT entries with fresh UUIDs for a fixed time.

Runs as a process of its own (``python -m bench.load``), so the server under test shares
nothing with it but the loopback network. Its targets are URL templates (``{id}`` left
for the entry's id), each with the API key it is sent with: ``--target URL KEY``, repeated,
or ``--targets FILE`` (a JSON list of [url, key] pairs; ``-`` reads standard input). With
more targets than clients, each client walks through them (``target_index``). Prints one
JSON object: requests, errors, requests/s, p50 and p99 latency in milliseconds, the share
of the machine's CPU time left idle while it measured, and the requests and CPU seconds of
the whole run (warm-up included), so the harness can share CPU out per request.
"""
import argparse
import asyncio
import json
import sys
import time
import uuid

import aiohttp

from .cpu import idle_percent, machine_ticks


def target_index(client, step, clients, targets):
    """The target of ``client``'s ``step``-th request: (client + step * clients) mod
    targets. With at least as many targets as clients, clients at the same step are on
    different targets (with as many, each stays on its own), and over a run every target
    is used."""
    return (client + step * clients) % targets


async def client(session, targets, deadline, latencies, errors, index, steps):
    """Requests from client ``index`` until ``deadline``; ``steps[index]`` counts them over
    the warm-up and the run, so the run goes on along the client's walk."""
    n, clients = 0, len(steps)
    while time.monotonic() < deadline:
        url, headers = targets[target_index(index, steps[index], clients, len(targets))]
        steps[index] += 1
        started = time.monotonic()
        try:
            async with session.put(url.format(id=uuid.uuid4()), headers=headers,
                                   json={"meta": {"client": str(index)}}) as response:
                await response.read()
                ok = response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            ok = False
        latencies.append(time.monotonic() - started)
        if not ok:
            errors.append(1)
        n += 1
    return n


def percentile(latencies, p):
    """The ``p`` quantile of sorted ``latencies`` (seconds), in milliseconds."""
    return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) \
        if latencies else None


async def main(args):
    targets = [(url, {"Authorization": f"Bearer {key}"} if key else {})
               for url, key in read_targets(args)]
    latencies, errors, steps = [], [], [0] * args.clients
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=args.clients)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        warm_until = time.monotonic() + args.warmup
        warmup = sum(await asyncio.gather(*(client(session, targets, warm_until, [], [], i,
                                                   steps) for i in range(args.clients))))
        started, ticks = time.monotonic(), machine_ticks()
        deadline = started + args.duration
        await asyncio.gather(*(client(session, targets, deadline, latencies, errors, i, steps)
                               for i in range(args.clients)))
        elapsed = time.monotonic() - started
        idle = idle_percent(ticks, machine_ticks())
    latencies.sort()
    print(json.dumps({"requests": len(latencies), "warmup_requests": warmup,
                      "cpu_s": round(time.process_time(), 3), "errors": len(errors),
                      "rps": round(len(latencies) / elapsed, 1),
                      "p50_ms": percentile(latencies, 0.50),
                      "p99_ms": percentile(latencies, 0.99), "idle_pct": idle}))


def read_targets(args):
    """[(url, key)] from ``--target`` and ``--targets``."""
    pairs = [tuple(pair) for pair in args.target or ()]
    if args.targets:
        source = sys.stdin if args.targets == "-" else open(args.targets)  # noqa: SIM115
        with source:
            pairs += [tuple(pair) for pair in json.load(source)]
    if not pairs:
        raise SystemExit("bench.load: give --target URL KEY or --targets FILE")
    return pairs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", nargs=2, action="append", metavar=("URL", "KEY"),
                        help="a URL template with {id}, and the API key sent to it")
    parser.add_argument("--targets", metavar="FILE",
                        help="a JSON list of [url, key] pairs; - reads standard input")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
