"""The load generator: N concurrent clients PUT entries with fresh UUIDs for a fixed time.

Runs as a process of its own (``python -m bench.load``), so the server under test shares
nothing with it but the loopback network. Prints one JSON object: requests, errors,
requests/s, p50 and p99 latency in milliseconds, the share of the machine's CPU time left
idle while it measured, and the requests and CPU seconds of the whole run (warm-up
included), so the harness can share CPU out per request.
"""
import argparse
import asyncio
import json
import time
import uuid

import aiohttp

from .cpu import idle_percent, machine_ticks


async def client(session, urls, deadline, latencies, errors, index):
    n = 0
    while time.monotonic() < deadline:
        url = urls[index % len(urls)].format(id=uuid.uuid4())
        started = time.monotonic()
        try:
            async with session.put(url, json={"meta": {"client": str(index)}}) as response:
                await response.read()
                ok = response.status == 200
        except (TimeoutError, aiohttp.ClientError):
            ok = False
        latencies.append(time.monotonic() - started)
        if not ok:
            errors.append(1)
        n += 1
    return n


async def main(args):
    urls = args.url
    latencies, errors = [], []
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=args.clients)
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    async with aiohttp.ClientSession(timeout=timeout, connector=connector,
                                     headers=headers) as session:
        warm_until = time.monotonic() + args.warmup
        warmup = sum(await asyncio.gather(*(client(session, urls, warm_until, [], [], i)
                                            for i in range(args.clients))))
        started, ticks = time.monotonic(), machine_ticks()
        deadline = started + args.duration
        await asyncio.gather(*(client(session, urls, deadline, latencies, errors, i)
                               for i in range(args.clients)))
        elapsed = time.monotonic() - started
        idle = idle_percent(ticks, machine_ticks())
    latencies.sort()

    def percentile(p):
        return round(1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))], 2) \
            if latencies else None

    print(json.dumps({"requests": len(latencies), "warmup_requests": warmup,
                      "cpu_s": round(time.process_time(), 3), "errors": len(errors),
                      "rps": round(len(latencies) / elapsed, 1), "p50_ms": percentile(0.50),
                      "p99_ms": percentile(0.99), "idle_pct": idle}))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", action="append", required=True,
                        help="URL template with {id}; several spread the clients")
    parser.add_argument("--key", default=None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    asyncio.run(main(parser.parse_args()))
