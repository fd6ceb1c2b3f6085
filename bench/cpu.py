"""CPU time of the processes in a benchmark run, and the machine's idle time, read from
/proc (Linux)."""
import os
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(parent pid, CPU seconds) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def family(root):
    """``root`` and its children (gunicorn's workers, a postmaster's backends)."""
    pids = [root]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat is not None and stat[0] == root:
                pids.append(int(entry.name))
    return pids


def snapshot(root):
    """pid -> CPU seconds so far, for ``root`` and its children."""
    taken = {pid: _stat(pid) for pid in family(root)}
    return {pid: stat[1] for pid, stat in taken.items() if stat is not None}


def used_since(root, before):
    """CPU seconds ``root`` and its children used since ``before`` (a snapshot); children
    started meanwhile count from zero."""
    return sum(now - before.get(pid, 0.0) for pid, now in snapshot(root).items())


def machine_ticks():
    """(idle, total) clock ticks of all the machine's CPUs so far; waiting for the disk
    counts as idle (/proc/stat's first line: user, nice, system, idle, iowait, irq, softirq,
    steal; guest time is counted in user already)."""
    fields = [int(value) for value in
              Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return fields[3] + fields[4], sum(fields)


def idle_percent(before, after):
    """The share of the machine's CPU time left idle between two ``machine_ticks()``."""
    idle, total = after[0] - before[0], after[1] - before[1]
    return round(100 * idle / total, 1) if total else None
