"""Does game generation on Ray workers keep up with, or beat, the single-process run?

Trains the same fresh crowd run for `--minutes` in each layout, one after the other in
one invocation (so they share the machine's state): the single process (no Ray), then
Ray workers on this machine (`--layouts 0,1,2`: 0 = single process). For each layout it
reports, per minute of training (the time budget; starting Ray and the workers is not
counted):

* agent positions: moves the agent searched (the rows that can carry a policy target);
* games stored, and training steps;
* per worker: games and agent positions a minute, the share of live games in one agent
  search, and the bytes of one weights publication,

and appends the rows (JSON lines) to `--out`. Run it alone on the machine:

    python -m benchmarks.scale --minutes 10 --layouts 0,1,2
    python -m benchmarks.scale --minutes 10 --layouts 0,1,2 --board-size 9 --simulations 16
    python -m benchmarks.scale --minutes 8 --layouts 0,1,2 \
        --set train.agent_search_wait=0 --set train.crowd_threads=4

(the last: the agent's search never waits for engines about to answer and engines are
asked on 4 threads, as before `train.agent_search_wait` and `train.crowd_threads`
existed; each row records the settings it ran with).

`docs/scaling.md` turns these numbers into how many workers one learner can feed.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from crowdzero.store.game_store import GameStore
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.game_source import WorkerSettings
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import AGENT_NAME, TrainingRun


def measure(
    folder: Path, overrides: dict[str, Any], minutes: float, workers: int
) -> dict[str, Any]:
    """Train a fresh run for `minutes` with `workers` Ray workers (0: one process)."""
    cfg = apply_overrides(RunConfig(), {**overrides, "train.minutes": minutes})
    run_dir = RunDir.create(folder / f"workers-{workers}", cfg)
    settings = WorkerSettings(workers) if workers else None
    started = time.monotonic()
    run = TrainingRun(run_dir, workers=settings)
    startup = time.monotonic() - started
    weights_bytes = getattr(run.games, "weights_bytes", None)
    run.run()
    seconds = run.stats.elapsed
    with GameStore(run_dir.games_path) as store:
        games = [g for _, g in store.iter_games()]
    agent_positions = sum(m.player == AGENT_NAME for g in games for m in g.moves)
    per_minute = 60.0 / seconds
    row: dict[str, Any] = {
        "layout": "single process" if not workers else f"{workers} Ray worker(s)",
        "workers": workers,
        "minutes": round(seconds / 60, 2),
        "startup_s": round(startup, 1),
        "agent_positions_per_min": round(agent_positions * per_minute, 1),
        "games_per_min": round(len(games) * per_minute, 2),
        "steps_per_min": round(run.learner.step * per_minute, 2),
        "agent_batch_fill": round(run.games.agent_batch_fill, 3),
        "sims_per_s": round(run.games.simulations_done / seconds, 1),
        "samples_per_position": round(
            run.learner.step * cfg.train.batch_size / max(run.replay.positions_added, 1), 3
        ),
        "weights_bytes": weights_bytes,
        "board_size": cfg.board.size,
        "simulations": cfg.search.simulations,
        "crowd": cfg.train.crowd,
        "agent_search_wait": cfg.train.agent_search_wait,
        "agent_search_min_fill": cfg.train.agent_search_min_fill,
        "crowd_threads": cfg.train.crowd_threads,
    }
    if workers:
        row["per_worker_agent_positions_per_min"] = round(
            row["agent_positions_per_min"] / workers, 1
        )
        row["per_worker_games_per_min"] = round(row["games_per_min"] / workers, 2)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="training time per layout")
    parser.add_argument("--layouts", default="0,1,2", help="worker counts; 0 = single process")
    parser.add_argument("--board-size", type=int, default=9)
    parser.add_argument("--simulations", type=int, default=None)
    parser.add_argument("--crowd", default="default", help="crowd TOML file or 'default'")
    parser.add_argument(
        "--set", action="append", default=[], help="config override KEY=VALUE (TOML value)"
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/scale_results.jsonl"))
    args = parser.parse_args()

    import tomllib

    overrides: dict[str, Any] = {"board.size": args.board_size, "train.crowd": args.crowd}
    if args.simulations is not None:
        overrides["search.simulations"] = args.simulations
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = tomllib.loads(f"v = {value.strip()}")["v"]

    console = Console()
    rows = []
    with tempfile.TemporaryDirectory(prefix="crowdzero-scale-") as tmp:
        for workers in (int(x) for x in args.layouts.split(",")):
            console.print(f"[bold]{workers or 'no'} workers[/], {args.minutes:g} min ...")
            row = measure(Path(tmp), overrides, args.minutes, workers)
            rows.append(row)
            console.print(row)
            with args.out.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    table = Table(title=f"training throughput, {args.minutes:g} min per layout")
    for column in ("layout", "agent pos/min", "games/min", "steps/min", "batch fill", "start s"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(
            row["layout"],
            f"{row['agent_positions_per_min']:,.0f}",
            f"{row['games_per_min']:.1f}",
            f"{row['steps_per_min']:.1f}",
            f"{row['agent_batch_fill']:.0%}",
            f"{row['startup_s']:.0f}",
        )
    console.print(table)
    console.print(f"rows appended to {args.out}")


if __name__ == "__main__":
    main()
