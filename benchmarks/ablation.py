"""Which learner changes pay? Short crowd runs, one change switched off at a time.

Every variant is the same crowd run (7x7 by default, the default crowd) with the same
wall-clock budget, started from zero, alone on the machine; its final checkpoint then
plays a fixed opponent with search noise off. The first variant has every change on; each
`-name` variant turns one off (back to what crowdzero did before, see VARIANTS); `old` turns
all of them off. A change is justified when switching it off lowers the score.

    python -m benchmarks.ablation --minutes 10 --games 100 --opponent gnugo:0
    python -m benchmarks.ablation --only all,-value-rows --minutes 10

Runs live in --out (default runs/ablation-7x7/VARIANT); a variant already trained for the
budget is not trained again, and one already evaluated is not played again, so the command
resumes after an interruption. Results: --out/results.jsonl (one line per variant), a
table on the terminal and --out/ablation.md, and a bar chart --out/ablation.png.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.learn import evaluate, train
from crowdzero.train.config import RunConfig, apply_overrides
from crowdzero.train.run_dir import RunDir

#: Each switch puts back what crowdzero did before issue #10 (the review's items 1-6 and
#: the additions KataGo measured).
SWITCHES: dict[str, dict[str, Any]] = {
    "-value-rows": {"train.value_on_all_positions": False},  # item 1
    "-gumbel-scale": {"search.gumbel_c_scale": 1.0},  # item 2
    "-growing-window": {"train.window_min_rows": 0, "train.replay_window": 100_000},  # item 3
    "-refresh": {"train.refresh_every": 250},  # item 4: new weights with checkpoints only
    "-batch-fill": {"train.agent_moves_last": False},  # item 5
    "-regularisation": {  # item 6
        "train.weight_decay": 1e-4,
        "train.lr_warmup_steps": 0,
        "train.lr_decay_steps": 0,
    },
    "-playout-cap": {"search.full_search_fraction": 1.0},
    "-resignation": {"train.no_resign_fraction": 1.0},
    "-liberty-features": {"net.liberty_features": False},
    "-global-pooling": {"net.global_pooling": False},
    "-aux-heads": {"net.score_head": False, "net.opponent_policy_head": False},
    "-learner-thread": {"train.learner_thread": False},
}


def variants() -> dict[str, dict[str, Any]]:
    """Variant name -> config overrides on top of the base run."""
    out: dict[str, dict[str, Any]] = {"all": {}}
    out.update(SWITCHES)
    old: dict[str, Any] = {}
    for overrides in SWITCHES.values():
        old.update(overrides)
    out["old"] = old
    return out


def base_overrides(size: int, simulations: int) -> dict[str, Any]:
    return {
        "train.mode": "crowd",
        "board.size": size,
        "search.simulations": simulations,
        "train.checkpoint_every": 250,
    }


def run_variant(
    name: str, overrides: dict[str, Any], args: argparse.Namespace, console: Console
) -> dict[str, Any] | None:
    """Train (or finish training) one variant, then evaluate it; None if already done."""
    results = args.out / "results.jsonl"
    if results.exists():
        for line in results.read_text().splitlines():
            row = json.loads(line)
            if row["variant"] == name and row["minutes"] == args.minutes:
                return row
    path = args.out / name.lstrip("-")
    if (path / "config.toml").is_file():
        run_dir = RunDir.open(path)
    else:
        cfg = apply_overrides(
            RunConfig(), {**base_overrides(args.size, args.simulations), **overrides}
        )
        run_dir = RunDir.create(path, cfg)
    console.print(f"[bold]{name}[/]: training {args.minutes:g} min in {path}")
    train(run_dir, [args.minutes])
    checkpoint = run_dir.latest_checkpoint_path()
    if checkpoint is None:
        console.print(f"[red]{name}: no checkpoint after training[/]")
        return None
    started = time.monotonic()
    (row,) = evaluate(run_dir, checkpoint, [args.opponent], args.games, args.concurrency)
    metrics = run_dir.read_metrics()
    last = metrics[-1] if metrics else {}
    row |= {
        "variant": name,
        "overrides": overrides,
        "minutes": args.minutes,
        "size": args.size,
        "train_games": int(last.get("games") or 0),
        "eval_seconds": round(time.monotonic() - started, 1),
    }
    with results.open("a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def report(rows: list[dict[str, Any]], args: argparse.Namespace, console: Console) -> None:
    table = Table(
        title=f"ablation: {args.size}x{args.size}, {args.minutes:g} min each, "
        f"vs {args.opponent}, {args.games} games, noise off"
    )
    columns = ("variant", "step", "games trained", "score", "95% interval")
    for column in columns:
        table.add_column(column, justify="right")
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in rows:
        cells = (
            row["variant"],
            str(row["step"]),
            str(row["train_games"]),
            f"{row['score']:.1%}",
            f"{row['low']:.1%} - {row['high']:.1%}",
        )
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(rows) + 1.5))
    names = [r["variant"] for r in rows][::-1]
    scores = [r["score"] for r in rows][::-1]
    errors = [
        [r["score"] - r["low"] for r in rows][::-1],
        [r["high"] - r["score"] for r in rows][::-1],
    ]
    ax.barh(names, scores, xerr=errors, color="#4a7ab0", capsize=3)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"score vs {args.opponent} ({args.games} games, 95% interval)")
    ax.set_title(f"one change off at a time: {args.size}x{args.size}, {args.minutes:g} min each")
    fig.tight_layout()
    fig.savefig(args.out / "ablation.png", dpi=120)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation-7x7"))
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument("--opponent", default="gnugo:0")
    parser.add_argument("--games", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = variants()
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in chosen]
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {list(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in wanted}
    console = Console()
    rows = []
    for name, overrides in chosen.items():
        row = run_variant(name, overrides, args, console)
        if row is not None:
            rows.append(row)
            report(rows, args, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
