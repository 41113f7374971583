"""How strong does AlphaZero get on this machine in a given time?

Trains a run (self-play by default, crowd with --mode crowd) for the given wall-clock
minutes, evaluating the checkpoint reached at each mark against a random player and
against GnuGo level 0, with search noise off. Training pauses while an evaluation
runs, so the minutes are training minutes. Resumable: run the same command again to
continue the run and evaluate later marks.

    python benchmarks/learn.py --run runs/learn-self-9x9 --marks 30,120 --games 200

Prints a table and appends it (as JSON lines) to RUN/learn_results.jsonl.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from crowdzero.analysis.arena import play_match
from crowdzero.net.checkpoint import load_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.registry import make_player
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import TrainingRun


def trained_minutes(run_dir: RunDir) -> float:
    """Training minutes recorded so far (the last metrics row's clock, summed over resumes)."""
    marks = run_dir.path / "learn_clock.json"
    if marks.exists():
        return float(json.loads(marks.read_text())["minutes"])
    return 0.0


def add_minutes(run_dir: RunDir, minutes: float) -> None:
    marks = run_dir.path / "learn_clock.json"
    total = trained_minutes(run_dir) + minutes
    marks.write_text(json.dumps({"minutes": total}))


def evaluate(run_dir: RunDir, opponents: list[str], games: int, concurrency: int) -> list[dict]:
    path = run_dir.latest_checkpoint_path()
    if path is None:
        raise SystemExit("no checkpoint to evaluate yet")
    ckpt = load_checkpoint(path, board_size=run_dir.config.board.size)
    agent = AgentPlayer(
        TorchEvaluator(ckpt.build_model()), run_dir.config.search, name="agent", add_noise=False
    )
    rows = []
    for spec in opponents:
        opponent = make_player(spec)
        started = time.monotonic()
        result = play_match(
            agent, opponent, games, run_dir.config.rules, concurrency=concurrency
        )
        low, high = result.score_interval()
        rows.append(
            {
                "checkpoint": path.name,
                "step": ckpt.step,
                "opponent": spec,
                "games": result.played,
                "score": result.score,
                "low": low,
                "high": high,
                "seconds": round(time.monotonic() - started, 1),
            }
        )
        opponent.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("runs/learn-self-9x9"))
    parser.add_argument("--mode", choices=("self", "crowd"), default="self")
    parser.add_argument("--marks", default="30,120", help="training minutes to evaluate at")
    parser.add_argument("--games", type=int, default=200, help="evaluation games per opponent")
    parser.add_argument("--opponents", default="random,gnugo:0")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    args = parser.parse_args()

    if (args.run / "config.toml").is_file():
        run_dir = RunDir.open(args.run)
    else:
        overrides: dict[str, object] = {"train.mode": args.mode}
        for item in args.set:
            key, _, value = item.partition("=")
            overrides[key] = value
        run_dir = RunDir.create(args.run, apply_overrides(RunConfig(), overrides))
    marks = sorted(float(m) for m in args.marks.split(","))
    results_path = run_dir.path / "learn_results.jsonl"
    console = Console()
    table = Table(title=f"{run_dir.name}: {run_dir.config.train.mode} training on this machine")
    for col in ("minutes", "step", "opponent", "games", "agent score", "95% interval", "eval s"):
        table.add_column(col, justify="right")

    for mark in marks:
        done = trained_minutes(run_dir)
        if done < mark:
            remaining = mark - done
            console.print(f"training {remaining:.1f} more minutes (to {mark:g})")
            cfg = apply_overrides(run_dir.config, {"train.minutes": remaining})
            started = time.monotonic()
            with run_dir.lock():
                TrainingRun(RunDir(run_dir.path, cfg)).run()
            add_minutes(run_dir, (time.monotonic() - started) / 60)
        rows = evaluate(run_dir, args.opponents.split(","), args.games, args.concurrency)
        with results_path.open("a") as f:
            for row in rows:
                row["minutes"] = round(trained_minutes(run_dir), 1)
                f.write(json.dumps(row) + "\n")
                table.add_row(
                    f"{row['minutes']:g}",
                    str(row["step"]),
                    row["opponent"],
                    str(row["games"]),
                    f"{row['score']:.1%}",
                    f"{row['low']:.1%} - {row['high']:.1%}",
                    f"{row['seconds']:g}",
                )
        console.print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
