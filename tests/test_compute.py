"""CPU-seconds of a run's process tree: its own threads, live engine processes, and the
children it has already waited for (issue #13: the crowd's engines count)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from crowdzero.go.position import Position
from crowdzero.players.engine_pool import EnginePool
from crowdzero.players.engines import gnugo_config
from crowdzero.train.compute import (
    CpuClock,
    learning_budget,
    live_descendant_cpu_seconds,
    process_tree_cpu_seconds,
    run_cpu_seconds,
)
from crowdzero.train.config import RunConfig
from crowdzero.train.run_dir import RunDir

# A child that burns `cpu` seconds of its own CPU, says so, and waits to be told to exit.
BUSY = """
import sys, time
while time.process_time() < {cpu}:
    pass
print("done", flush=True)
sys.stdin.readline()
"""


def test_a_live_child_and_then_its_reaped_self_count_in_the_tree() -> None:
    before = process_tree_cpu_seconds()
    child = subprocess.Popen(
        [sys.executable, "-c", BUSY.format(cpu=0.5)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "done"
        assert live_descendant_cpu_seconds() >= 0.4
        live_total = process_tree_cpu_seconds()
        assert live_total - before >= 0.4
    finally:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(timeout=60)
    # Waited for, it moves from /proc to os.times().children_*: the total does not drop.
    assert process_tree_cpu_seconds() >= live_total - 0.05


@pytest.mark.gnugo
def test_gnugo_engines_in_a_pool_are_counted(gnugo_path: str) -> None:
    clock = CpuClock()
    with EnginePool(gnugo_config(10), 1) as pool:
        position = Position()
        for _ in range(6):
            position.play(pool.genmove("g", position))
        engine_cpu = live_descendant_cpu_seconds()
        assert engine_cpu > 0.0
    assert clock.total() >= engine_cpu * 0.9


def test_the_run_cpu_is_read_from_metrics_and_missing_for_old_runs(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", RunConfig())
    assert run_cpu_seconds(run) is None
    run.append_metrics({"step": 1, "wall_s": 10.0})
    assert run_cpu_seconds(run) is None
    run.append_metrics({"step": 2, "wall_s": 20.0, "cpu_s": 31.5})
    assert run_cpu_seconds(run) == 31.5


def test_a_learner_is_charged_the_share_of_the_games_it_learned_from() -> None:
    assert learning_budget(100.0, 50, 200, 4000.0) == pytest.approx(1100.0)
    assert learning_budget(100.0, 0, 0, 0.0) == 100.0
    with pytest.raises(ValueError, match="out of only"):
        learning_budget(1.0, 3, 2, 10.0)
