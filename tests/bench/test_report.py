"""make bench's tables: the ratios of issue 20's targets, the better worker class of each
reference counting (bench/report.py)."""
from bench import report
from bench.report import EMPTY, HOT, MILLION, SPREAD, THOUSAND

MACHINE, SLOW = "machine disk", "slow disk (+1 ms fsync)"


def row(design, scenario, clients, rps, p99=50.0, worker_class=None, disk=MACHINE, **more):
    return {"disk": disk, "design": design, "worker_class": worker_class,
            "scenario": scenario, "clients": clients, "rps": rps, "p50_ms": p99 / 2,
            "p99_ms": p99, "errors": 0, "idle_pct": 1.0, **more}


def naive(scenario, clients, gevent, gthread, disk=MACHINE, p99=(80.0, 90.0)):
    return [row("naive", scenario, clients, gevent, p99[0], "gevent", disk),
            row("naive", scenario, clients, gthread, p99[1], "gthread", disk)]


def test_the_better_worker_class_is_the_one_with_more_requests_per_second():
    rows = naive(HOT, 64, 300.0, 350.0)
    assert report.better_class(rows, "machine", "naive", HOT, 64) == "gthread"
    assert report.figures(rows, "machine", "naive", HOT, 64) == (350.0, 90.0)


def test_the_ceiling_counts_the_mean_of_its_two_runs_under_the_better_class():
    rows = [row("ceiling", HOT, 64, 2000.0, worker_class="gevent"),
            row("ceiling", HOT, 64, 2400.0, worker_class="gevent"),
            row("ceiling", HOT, 64, 2300.0, worker_class="gthread"),
            row("ceiling", HOT, 64, 2000.0, worker_class="gthread"),
            row("invx", HOT, 64, 1500.0, 90.0), row("invx", HOT, 64, 1700.0, 80.0)]
    assert report.better_class(rows, "machine", "ceiling", HOT, 64) == "gevent"
    assert report.figures(rows, "machine", "invx", HOT, 64) == (1600.0, 90.0)  # worse p99
    ratio = report.RATIOS[-1]
    assert ratio.reference == "ceiling"
    assert report.ratio_cell(rows, "machine", ratio) == "0.73 (≥ 0.7 ✓)"


def test_a_ratio_says_whether_its_target_is_met():
    assert report.at_least(1.349, 1.2) == "1.35 (≥ 1.2 ✓)"
    assert report.at_least(0.8, 1.2) == "0.80 (≥ 1.2 ✗)"
    assert report.at_least(1.0, 1.0) == "1.00 (≥ 1 ✓)"
    assert report.at_least(3.14159, None) == "3.14"
    assert report.at_least(None, 2.0) == "-"


def test_p99_is_invx_against_the_naive_designs_better_class():
    rows = [row("invx", SPREAD, 64, 900.0, 120.0), *naive(SPREAD, 64, 950.0, 800.0,
                                                           p99=(110.0, 300.0))]
    assert report.p99_cell(rows, "machine", SPREAD, 64) == "120.0 vs 110.0 ms (≤ ✗)"
    rows[0]["p99_ms"] = 100.0
    assert report.p99_cell(rows, "machine", SPREAD, 64) == "100.0 vs 110.0 ms (≤ ✓)"


def test_the_ratio_table_has_every_target_with_both_disks_as_columns():
    rows = []
    for disk in (MACHINE, SLOW):
        rows += [row("invx", HOT, 1, 330.0, disk=disk), *naive(HOT, 1, 300.0, 330.0, disk),
                 row("invx", HOT, 64, 1500.0, disk=disk), *naive(HOT, 64, 300.0, 250.0, disk),
                 row("invx", THOUSAND, 64, 700.0, disk=disk),
                 *naive(THOUSAND, 64, 800.0, 600.0, disk)]
    rows += [row("invx", MILLION, 32, 940.0), row("invx", EMPTY, 32, 1000.0)]
    lines = report.ratios(rows).splitlines()
    assert lines[0] == "| ratio (target) | machine disk | slow disk |"
    cells = {}
    for line in lines[2:]:
        label, *values = (cell.strip() for cell in line.strip("|").split("|"))
        cells[label] = values
    assert cells["invx ÷ naive, one client"] == ["1.00 (≥ 1 ✓)", "1.00 (≥ 1 ✓)"]
    assert cells["invx ÷ naive, one hot series, 64 clients"][0] == "5.00 (≥ 2 ✓)"
    assert cells["invx ÷ naive, 64 clients over 1,000 series of 10 accounts"][0] == \
        "0.88 (≥ 1.2 ✗)"
    assert cells["invx ÷ naive, 64 clients over 64 series"] == ["-", "-"]
    assert cells["invx ÷ ceiling, one hot series, 64 clients (means of two runs each)"]
    assert cells["p99, invx vs naive, one hot series, 1 client"][0] == \
        "50.0 vs 90.0 ms (≤ ✓)"
    assert cells["series of 1M entries ÷ empty series, 32 clients (means of two runs each)"] \
        == ["0.94", "-"]
    assert cells["errors, gaps, broken chains, every run"][0] == \
        "0 errors, 0 gaps, 0 broken chains (0 ✓)"


def test_errors_gaps_and_broken_chains_are_counted_as_faults():
    rows = [row("invx", HOT, 8, 1000.0, gap_free=True, chain_verifies=True),
            row("invx", HOT, 8, 1000.0, gap_free=False, chain_verifies=None),
            {**row("naive", HOT, 8, 400.0, worker_class="gevent"), "errors": 3}]
    assert report.faults(rows) == (3, 1, 0)
    assert report.faults_cell(rows, "machine") == "3 errors, 1 gaps, 0 broken chains (0 ✗)"
    assert report.faults_cell(rows, "slow") == "-"


def test_the_runs_table_names_each_references_class_and_marks_the_one_that_counts():
    rows = [row("invx", HOT, 64, 1500.0, gap_free=True, chain_verifies=True),
            *naive(HOT, 64, 300.0, 350.0)]
    lines = report.table(rows).splitlines()
    assert len(lines) == 5
    assert "| invx | one hot series | 64 | 1500.0 |" in lines[2]
    assert lines[2].endswith("| yes | yes |  |")
    assert "| naive (gevent) |" in lines[3] and lines[3].endswith("| - | - | no |")
    assert "| naive (gthread) |" in lines[4] and lines[4].endswith("| - | - | yes |")
