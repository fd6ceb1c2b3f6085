"""The benchmark's reading of the machine's idle time (bench/cpu.py)."""
import sys
import time

import pytest

from bench import cpu


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="reads /proc/stat, which only Linux has")
def test_machine_ticks_count_up_and_idle_is_part_of_the_total():
    before = after = cpu.machine_ticks()
    deadline = time.monotonic() + 5
    while after[1] == before[1] and time.monotonic() < deadline:  # a tick is 10 ms
        after = cpu.machine_ticks()
    assert 0 <= before[0] <= before[1]
    assert after[0] >= before[0] and after[1] > before[1]
    assert 0 <= cpu.idle_percent(before, after) <= 100


def test_idle_percent_is_the_share_of_ticks_left_idle():
    assert cpu.idle_percent((100, 1000), (150, 1200)) == 25.0
    assert cpu.idle_percent((100, 1000), (100, 1300)) == 0.0
    assert cpu.idle_percent((100, 1000), (100, 1000)) is None  # no tick between the two
