"""Write a finished run's results where they can be committed and read.

    python scripts/run_report.py runs/crowd-9x9 docs/results/crowd-9x9 --command "crowdzero train ..."

Writes ratings.txt (Bradley-Terry table, GnuGo 10 = 1800, with the shipped calibration
games), win_rate_matrix.txt (agent checkpoints x opponents), win_rates.png (the agent's
win rate against each member over the run), metrics.csv (the learner's losses) and
summary.json (counts, wall time, the command). Numbers are whatever the run produced.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from rich.console import Console

from crowdzero.analysis.ratings import rate_store, render_ratings
from crowdzero.analysis.win_rates import plot_win_rates, render_win_rate_matrix, win_rate_matrix
from crowdzero.train.run_dir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--command", default="", help="the command that produced the run")
    args = parser.parse_args()

    run = RunDir.open(args.run)
    args.out.mkdir(parents=True, exist_ok=True)
    with run.open_store() as store:
        table = rate_store(store)
        matrix = win_rate_matrix(store)
        plot_win_rates(store, args.out / "win_rates.png")
        games = store.count_games()
        by_source = {s: store.count_games(source=s) for s in ("train", "web", "arena")}
        checkpoints = [c.step for c in store.checkpoints()]

    for name, renderable in (
        ("ratings.txt", render_ratings(table)),
        ("win_rate_matrix.txt", render_win_rate_matrix(matrix, max_rows=60)),
    ):
        console = Console(record=True, width=260, file=open("/dev/null", "w"))  # noqa: SIM115
        console.print(renderable)
        (args.out / name).write_text(console.export_text())

    if run.metrics_path.exists():
        shutil.copyfile(run.metrics_path, args.out / "metrics.csv")
    shutil.copyfile(run.config_path, args.out / "config.toml")
    metrics = run.read_metrics()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    summary = {
        "run": run.name,
        "command": args.command,
        "games": games,
        "games_by_source": by_source,
        "checkpoints": checkpoints,
        "training_steps": checkpoints[-1] if checkpoints else 0,
        "last_metrics": metrics[-1] if metrics else None,
        "ratings": [
            {
                "name": r.name,
                "rating": r.rating,
                "low": r.low,
                "high": r.high,
                "games": r.games,
                "wins": r.wins,
                "losses": r.losses,
                "draws": r.draws,
            }
            for r in table.rows + table.unrated
        ],
        "git_commit": commit,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
