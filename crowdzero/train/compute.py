"""Compute in CPU-seconds, the crowd's engines included (issue #13).

Wall time is not compute on a shared 2-core machine: the crowd run's GnuGo and Pachi
processes burn CPU that its wall clock hides (they run while the agent searches), a
resumed run restarts its clock, and the machine may be busy with something else. The
study therefore states every agent's budget in CPU-seconds:

* `process_tree_cpu_seconds`: user + system CPU of this process (all its threads:
  search, learner), of its children that have exited and been waited for (engines that
  were replaced or closed), and of its live descendants (the engine pools' GTP
  processes), read from /proc. Ray workers on other machines, or started by a Ray
  daemon rather than by this process, are not descendants and are not counted (a run
  with ``--workers`` says so in its own metrics).
* A training run writes the running total as ``cpu_s`` in metrics.csv (over every
  session: a resumed run adds to the total it resumes); `run_cpu_seconds` reads it back.
* `learning_budget`: a learner that learns from games someone else generated (the
  imitation agent, from the crowd run's store) is charged its own CPU plus the share of
  the generating run's CPU that its games cost.
"""

from __future__ import annotations

import os
from pathlib import Path

from crowdzero.train.run_dir import RunDir

CPU_COLUMN = "cpu_s"


def _ticks() -> float:
    return float(os.sysconf("SC_CLK_TCK"))


def _stat_fields(pid: str) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces: split after it.
    return text[text.rfind(")") + 2 :].split()


def live_descendant_cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU of the live descendants of `pid` (default: this process).

    Reads /proc/*/stat (fields after the name: ppid is the 2nd, utime and stime the 12th
    and 13th); 0 where /proc is missing."""
    root = str(os.getpid() if pid is None else pid)
    parents: dict[str, str] = {}
    cpu: dict[str, float] = {}
    try:
        entries = [e for e in os.listdir("/proc") if e.isdigit()]
    except OSError:
        return 0.0
    ticks = _ticks()
    for entry in entries:
        fields = _stat_fields(entry)
        if fields is None or len(fields) < 13:
            continue
        parents[entry] = fields[1]
        cpu[entry] = (int(fields[11]) + int(fields[12])) / ticks
    total = 0.0
    for entry in parents:
        ancestor, hops = parents.get(entry), 0
        while ancestor is not None and ancestor != root and hops < 64:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor == root:
            total += cpu[entry]
    return total


def process_tree_cpu_seconds() -> float:
    """CPU-seconds of this process, its waited-for children and its live descendants."""
    times = os.times()
    own = times.user + times.system
    reaped = times.children_user + times.children_system
    return own + reaped + live_descendant_cpu_seconds()


class CpuClock:
    """CPU-seconds of the process tree since it started, plus `prior` (earlier sessions)."""

    def __init__(self, prior: float = 0.0) -> None:
        self.prior = prior
        self._start = process_tree_cpu_seconds()

    def total(self) -> float:
        return self.prior + max(process_tree_cpu_seconds() - self._start, 0.0)


def run_cpu_seconds(run: RunDir) -> float | None:
    """The run's CPU-seconds so far (last ``cpu_s`` in metrics.csv); None for runs made
    before the column existed, whose compute is known only as wall time."""
    for row in reversed(run.read_metrics()):
        try:
            return float(row.get(CPU_COLUMN) or "")
        except ValueError:
            continue
    return None


def learning_budget(
    own_cpu_seconds: float, games_used: int, source_games: int, source_cpu_seconds: float
) -> float:
    """Own CPU plus the share of the source run's CPU spent generating the games used.

    The share is by game count: ``source_cpu_seconds * games_used / source_games``
    (the source run's CPU includes its learner, so this is an upper bound on what the
    games alone cost; the study states it as such)."""
    if games_used < 0 or source_games < 0:
        raise ValueError("game counts must be non-negative")
    if games_used > source_games:
        raise ValueError(f"{games_used} games used out of only {source_games}")
    share = games_used / source_games if source_games else 0.0
    return own_cpu_seconds + share * source_cpu_seconds


__all__ = [
    "CPU_COLUMN",
    "CpuClock",
    "learning_budget",
    "live_descendant_cpu_seconds",
    "process_tree_cpu_seconds",
    "run_cpu_seconds",
]
