"""The tables ``make bench`` prints and writes: every run, and the ratios of issue 20's
targets with whether each is met. Pure functions over the runs' rows (dicts: disk,
design, worker_class, scenario, clients and the load generator's figures).

A reference (``naive``, ``ceiling``) runs under both of gunicorn's worker classes; the
better one for each scenario (the higher mean throughput) is the one that counts, in the
ratios and for the p99."""
from statistics import mean
from typing import NamedTuple

DISKS = (("machine", "machine disk"), ("slow", "slow disk"))
HOT, SPREAD, THOUSAND = "one hot series", "64 series", "1,000 series"
MILLION, EMPTY = "series of 1M entries", "empty series"


class Ratio(NamedTuple):
    """invx's throughput in ``scenario`` ÷ the reference's (the better worker class)."""
    label: str
    scenario: str
    clients: int
    reference: str
    minimum: float | None


RATIOS = (
    Ratio("invx ÷ naive, one client", HOT, 1, "naive", 1.0),
    Ratio("invx ÷ naive, one hot series, 8 clients", HOT, 8, "naive", None),
    Ratio("invx ÷ naive, one hot series, 32 clients", HOT, 32, "naive", None),
    Ratio("invx ÷ naive, one hot series, 64 clients", HOT, 64, "naive", 2.0),
    Ratio("invx ÷ naive, 64 clients over 64 series", SPREAD, 64, "naive", 1.2),
    Ratio("invx ÷ naive, 64 clients over 1,000 series of 10 accounts", THOUSAND, 64,
          "naive", 1.2),
    Ratio("invx ÷ ceiling, one hot series, 64 clients (means of two runs each)", HOT, 64,
          "ceiling", 0.7),
)
P99 = ((HOT, 1), (HOT, 8), (HOT, 32), (HOT, 64), (SPREAD, 64), (THOUSAND, 64))


def _runs(rows, disk, design, scenario, clients, worker_class=None):
    return [r for r in rows if r["disk"].startswith(disk) and r["design"] == design
            and r["scenario"] == scenario and r["clients"] == clients
            and (worker_class is None or r.get("worker_class") == worker_class)]


def better_class(rows, disk, design, scenario, clients):
    """The worker class under which the reference did more requests/s (mean of its runs)."""
    by_class = {}
    for r in _runs(rows, disk, design, scenario, clients):
        by_class.setdefault(r["worker_class"], []).append(r["rps"])
    return max(by_class, key=lambda c: mean(by_class[c])) if by_class else None


def figures(rows, disk, design, scenario, clients):
    """(mean requests/s, p99 ms) of a design in a scenario: a reference's under its better
    worker class (the mean p99 of those runs); invx's the worse p99 of its runs."""
    worker_class = None if design == "invx" else better_class(rows, disk, design, scenario,
                                                                clients)
    runs = _runs(rows, disk, design, scenario, clients, worker_class)
    if not runs:
        return None, None
    p99s = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
    p99 = (max(p99s) if design == "invx" else mean(p99s)) if p99s else None
    return mean(r["rps"] for r in runs), p99


def at_least(value, minimum):
    """``1.35 (≥ 1.2 ✓)``; without a target, ``1.35``; ``-`` without a value."""
    if value is None:
        return "-"
    if minimum is None:
        return f"{value:.2f}"
    return f"{value:.2f} (≥ {minimum:g} {'✓' if value >= minimum else '✗'})"


def ratio_cell(rows, disk, ratio):
    invx, _ = figures(rows, disk, "invx", ratio.scenario, ratio.clients)
    reference, _ = figures(rows, disk, ratio.reference, ratio.scenario, ratio.clients)
    return at_least(invx / reference if invx and reference else None, ratio.minimum)


def p99_cell(rows, disk, scenario, clients):
    """``90.9 vs 1186.0 ms (≤ ✓)``: invx's p99 against the naive design's."""
    _, invx = figures(rows, disk, "invx", scenario, clients)
    _, naive = figures(rows, disk, "naive", scenario, clients)
    if invx is None or naive is None:
        return "-"
    return f"{invx:.1f} vs {naive:.1f} ms (≤ {'✓' if invx <= naive else '✗'})"


def faults(rows):
    """Errors, and runs whose series had a gap or a chain that did not verify."""
    return (sum(r["errors"] for r in rows), sum(r.get("gap_free") is False for r in rows),
            sum(r.get("chain_verifies") is False for r in rows))


def faults_cell(rows, disk):
    mine = [r for r in rows if r["disk"].startswith(disk)]
    if not mine:
        return "-"
    errors, gaps, broken = faults(mine)
    met = "✓" if errors == gaps == broken == 0 else "✗"
    return f"{errors} errors, {gaps} gaps, {broken} broken chains (0 {met})"


def million_cell(rows, disk):
    big, _ = figures(rows, disk, "invx", MILLION, 32)
    empty, _ = figures(rows, disk, "invx", EMPTY, 32)
    return at_least(big / empty if big and empty else None, None)


def ratios(rows):
    lines = ["| ratio (target) | " + " | ".join(name for _, name in DISKS) + " |",
             "|---|" + "---|" * len(DISKS)]

    def line(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(disk) for disk, _ in DISKS) + " |")

    for ratio in RATIOS:
        line(ratio.label, lambda disk, ratio=ratio: ratio_cell(rows, disk, ratio))
    for scenario, clients in P99:
        line(f"p99, invx vs naive, {scenario}, {clients} client{'s' * (clients > 1)}",
             lambda disk, s=scenario, c=clients: p99_cell(rows, disk, s, c))
    line("series of 1M entries ÷ empty series, 32 clients (means of two runs each)",
         lambda disk: million_cell(rows, disk))
    line("errors, gaps, broken chains, every run", lambda disk: faults_cell(rows, disk))
    return "\n".join(lines)


def design_of(row):
    """``invx``, or a reference with its worker class: ``naive (gevent)``."""
    return f"{row['design']} ({row['worker_class']})" if row.get("worker_class") \
        else row["design"]


def _counts(rows, row):
    if not row.get("worker_class"):
        return ""
    best = better_class(rows, row["disk"], row["design"], row["scenario"], row["clients"])
    return "yes" if row["worker_class"] == best else "no"


def _yes(value):
    return {True: "yes", False: "NO"}.get(value, "-")


def table(rows):
    lines = ["| disk | design | scenario | clients | req/s | p50 ms | p99 ms | errors | "
             "CPU ms/request: server, database, load generator | machine idle % | gap-free | "
             "chain verifies | counts (the better worker class) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        used = r.get("cpu_ms")
        used = f"{used['server']}, {used['database']}, {used['client']}" if used else "-"
        lines.append(f"| {r['disk']} | {design_of(r)} | {r['scenario']} | {r['clients']} | "
                     f"{r['rps']} | {r['p50_ms']} | {r['p99_ms']} | {r['errors']} | {used} | "
                     f"{r['idle_pct']} | {_yes(r.get('gap_free'))} | "
                     f"{_yes(r.get('chain_verifies'))} | {_counts(rows, r)} |")
    return "\n".join(lines)
