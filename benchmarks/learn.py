"""How strong does AlphaZero get on this machine in a given time?

`train` trains a run (self-play by default, crowd with --mode crowd) for the last mark's
wall-clock minutes and copies the checkpoint reached at each mark to RUN/marks/;
`eval` plays a mark's checkpoint against a random player and GnuGo level 0 with search
noise off (it can run while training goes on; it then shares the cores).

    python benchmarks/learn.py train --run runs/learn-self-9x9 --marks 30,120
    python benchmarks/learn.py eval --run runs/learn-self-9x9 --mark 30 --games 200

`eval` prints a table and appends its rows (JSON lines) to RUN/learn_results.jsonl;
`report` turns those rows into evaluation.md and evaluation.png (--out FOLDER);
`compare` puts several runs' rows side by side, from their run or results folders (the
before/after of issue #10 from the committed files alone), with each mark's Elo rating
from those evaluation games (Bradley-Terry, GnuGo 10 = 1800, the engines placed by the
shipped calibration table of the runs' board size):

    python benchmarks/learn.py compare docs/results/crowd-9x9-v2 docs/results/self-9x9-v2 \
        --out docs/results/crowd-vs-self-9x9-v2
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from crowdzero.analysis.arena import play_match
from crowdzero.analysis.calibration import CalibrationError, load_calibration
from crowdzero.analysis.ratings import PlayerRating, RatingError, fit_ratings
from crowdzero.analysis.training_games import markdown_table, scores_by_stretch, stretches
from crowdzero.net.checkpoint import load_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.registry import make_player
from crowdzero.store.game_store import PairResult
from crowdzero.train.config import RunConfig, apply_overrides, load_config
from crowdzero.train.run_dir import RunDir
from crowdzero.train.training_run import TrainingRun


def mark_path(run_dir: RunDir, minutes: float) -> Path:
    return run_dir.path / "marks" / f"mark-{minutes:g}min.pt"


def train(run_dir: RunDir, marks: list[float]) -> None:
    """Train until the last mark, copying the checkpoint reached at each mark aside."""
    done = run_dir.trained_seconds() / 60  # earlier sessions of a resumed run
    if done >= max(marks):
        print(f"{run_dir.path} has trained {done:.1f} minutes: every mark is reached")
        return
    cfg = apply_overrides(run_dir.config, {"train.minutes": max(marks) - done})
    run_dir = RunDir(run_dir.path, cfg)
    pending = [m for m in marks if not mark_path(run_dir, m).exists()]
    (run_dir.path / "marks").mkdir(exist_ok=True)

    last_line = [0.0]

    def on_progress(run: TrainingRun) -> None:
        minutes = run.stats.wall / 60  # over every session, so a resumed run keeps its marks
        if run.stats.elapsed - last_line[0] >= 60:
            last_line[0] = run.stats.elapsed
            loss = run.stats.last_loss
            scores = ", ".join(
                f"{name} {rate:.0%}/{n}" for name, (rate, n) in run.stats.win_rates().items()
            )
            print(
                f"{minutes:6.1f} min  step {run.learner.step}  games {run.stats.games}  "
                f"rows {run.replay.positions_added}  window {run.replay.window}  "
                f"fill {run.runner.learner_batch_fill:.0%}  cores {run.cores_used[0]:.1f}/"
                f"{run.cores_used[1] or 0:.1f}  "
                + (f"H(target) {loss.target_entropy:.2f}  v {loss.value:.3f}  " if loss else "")
                + f"| {scores}",
                flush=True,
            )
        while pending and minutes >= pending[0]:
            mark = pending.pop(0)
            run.save_checkpoint()
            latest = run_dir.latest_checkpoint_path()
            assert latest is not None
            shutil.copyfile(latest, mark_path(run_dir, mark))
            print(f"mark {mark:g} min: {latest.name} -> {mark_path(run_dir, mark)}", flush=True)

    with run_dir.lock():
        run = TrainingRun(run_dir)
        reason = run.run(on_progress=on_progress)
    print(f"stopped after {run.stats.wall / 60:.1f} min in total: {reason}", flush=True)
    if pending and "time budget" in reason:  # the last mark is the end of the run
        latest = run_dir.latest_checkpoint_path()
        assert latest is not None
        shutil.copyfile(latest, mark_path(run_dir, pending[-1]))


def evaluate(
    run_dir: RunDir,
    path: Path,
    opponents: list[str],
    games: int,
    concurrency: int,
    on_row: Callable[[dict], None] = lambda row: None,
) -> list[dict]:
    """Play the checkpoint against each opponent; each row is handed to `on_row` as soon
    as it is measured, so a long evaluation that is cut short keeps what it finished."""
    ckpt = load_checkpoint(path, board_size=run_dir.config.board.size)
    agent = AgentPlayer(
        TorchEvaluator(ckpt.build_model()), run_dir.config.search, name="agent", add_noise=False
    )
    rows = []
    for spec in opponents:
        opponent = make_player(spec)
        started = time.monotonic()
        result = play_match(agent, opponent, games, run_dir.config.rules, concurrency=concurrency)
        low, high = result.score_interval()
        row = {
            "checkpoint": path.name,
            "step": ckpt.step,
            "opponent": spec,
            "games": result.played,
            "score": result.score,
            "low": low,
            "high": high,
            "seconds": round(time.monotonic() - started, 1),
        }
        rows.append(row)
        on_row(row)
        opponent.close()
    return rows


def throughput_table(metrics: list[dict[str, str]], every_minutes: float = 30.0) -> list[str]:
    """Markdown lines: games and training steps per minute, and cores in use, in each
    `every_minutes` of training time (wall_s, over every session), from metrics.csv.

    A slower stretch shows here, whatever its cause: stronger (slower) crowd members
    drawn more often, or other work sharing the machine (`cores process` falls while
    `cores machine` stays near 2).
    """
    rows = []
    for row in metrics:
        try:
            rows.append(
                (
                    float(row["wall_s"]) / 60,
                    int(row["step"]),
                    int(row["games"]),
                    float(row.get("cores_process") or "nan"),
                    float(row.get("cores_machine") or "nan"),
                )
            )
        except (KeyError, ValueError):
            continue  # rows from before wall_s
    lines = [
        f"Throughput by {every_minutes:g} minutes of training (metrics.csv):",
        "",
        "| minutes | games/min | steps/min | cores process | cores machine |",
        "| --- | --- | --- | --- | --- |",
    ]
    if len(rows) < 2:
        return lines
    start = 0.0
    while start < rows[-1][0]:
        window = [r for r in rows if start <= r[0] < start + every_minutes]
        before = [r for r in rows if r[0] < start]
        first = before[-1] if before else rows[0]
        if window:
            last = window[-1]
            span = last[0] - first[0]
            if span > 0 and last[0] - start >= 1.0:  # not a minute's tail past the end
                process = [r[3] for r in window if r[3] == r[3]]
                machine = [r[4] for r in window if r[4] == r[4]]
                end = min(start + every_minutes, rows[-1][0])  # the last stretch may be short
                lines.append(
                    f"| {start:g}-{end:.0f} | {(last[2] - first[2]) / span:.1f} | "
                    f"{(last[1] - first[1]) / span:.1f} | "
                    f"{sum(process) / max(len(process), 1):.2f} | "
                    f"{sum(machine) / max(len(machine), 1):.2f} |"
                )
        start += every_minutes
    return lines


def training_games_table(run_dir: RunDir, rows: dict[tuple[float, str], dict]) -> list[str]:
    """Markdown lines: the agent's score in its own training games against each opponent,
    between consecutive evaluated marks (binned by the step of the weights that played),
    so the evaluation curve can be checked against thousands of games; empty when the run
    has no store or no opponent other than itself."""
    if not run_dir.games_path.is_file():
        return []
    marks = sorted({(minutes, row["step"]) for (minutes, _), row in rows.items()})
    edges: list[int] = []
    labels: list[str] = []
    for minutes, step in marks:
        if not edges or step > edges[-1]:
            edges.append(step)
            labels.append(f"to {minutes:g} min")
    cuts = stretches(edges, labels)
    store = run_dir.open_store()
    try:
        table = scores_by_stretch((g for _, g in store.iter_games(source="train")), cuts)
    finally:
        store.close()
    if not table:
        return []
    return [
        "Agent score in its own training games (exploration on, mostly cheap searches, so"
        " lower than the evaluation), by the marks' steps, score (games):",
        "",
        *markdown_table(table, cuts),
    ]


Results = dict[tuple[float, str], dict]
"""Evaluation rows by (training minutes, opponent)."""


def read_results(path: Path) -> Results:
    """The rows of a learn_results.jsonl; the newest row of each (mark, opponent) counts,
    so a mark evaluated again replaces its earlier figure."""
    rows: Results = {}
    for line in path.read_text().splitlines():
        if line.strip():
            row = json.loads(line)
            rows[(float(row["minutes"]), row["opponent"])] = row
    return rows


def results_path(folder: Path) -> Path:
    """learn_results.jsonl of a run folder, or of a packed results folder (in resume/)."""
    for candidate in (folder / "learn_results.jsonl", folder / "resume" / "learn_results.jsonl"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{folder} holds no learn_results.jsonl (nor resume/): run eval first")


def load_runs(folders: list[Path]) -> dict[str, Results]:
    """Each folder's evaluation rows under the folder's name (FileNotFoundError for a
    folder without them, ValueError when two folders share a name)."""
    runs = {folder.name: read_results(results_path(folder)) for folder in folders}
    if len(runs) != len(folders):
        raise ValueError("two folders with one name: the columns would not tell them apart")
    return runs


def board_size(folder: Path) -> int | None:
    """The board size of a run or packed results folder, from its config.toml."""
    for candidate in (folder / "config.toml", folder / "resume" / "config.toml"):
        if candidate.is_file():
            return load_config(candidate).board.size
    return None


Ratings = dict[str, dict[float, PlayerRating]]
"""Each run's marks on the Elo scale, by training minutes."""


def mark_ratings(runs: dict[str, Results], size: int) -> Ratings:
    """Every run's every mark rated from its evaluation games, one Bradley-Terry fit for
    all, so the runs share one scale (GnuGo 10 = 1800). The engines' own strengths come
    from the shipped calibration games of `size`; without them two opponents would only
    be placed by the marks' scores against both. The rows keep a score, not results by
    colour, and the evaluations alternate colours, so no first-move advantage is fitted;
    a draw is rounded into the wins (a half-point komi leaves almost none).
    """
    results = list(load_calibration(size))
    for name, rows in runs.items():
        for (minutes, opponent), row in rows.items():
            wins = round(row["score"] * row["games"])
            results.append(
                PairResult(f"{name}@{minutes:g}", opponent, wins, row["games"] - wins, 0)
            )
    table = fit_ratings(results, first_move_advantage=False)
    return {
        name: {minutes: table[f"{name}@{minutes:g}"] for minutes, _ in rows}
        for name, rows in runs.items()
    }


def ratings_lines(ratings: Ratings, size: int) -> list[str]:
    names = list(ratings)
    lines = [
        "",
        f"## Elo by mark (GnuGo 10 = 1800; these evaluation games and the {size}x{size} "
        "calibration table)",
        "",
        "| training minutes | " + " | ".join(names) + " |",
        "| --- |" + " --- |" * len(names),
    ]
    for minutes in sorted({m for marks in ratings.values() for m in marks}):
        cells = []
        for marks in ratings.values():
            r = marks.get(minutes)
            cells.append(
                "-"
                if r is None or r.rating is None or r.low is None or r.high is None
                else f"{r.rating:.0f} [{r.low:.0f}, {r.high:.0f}]"
            )
        lines.append(f"| {minutes:g} | " + " | ".join(cells) + " |")
    return lines


def write_comparison(runs: dict[str, Results], out: Path, size: int | None = None) -> str:
    """comparison.md (one column per run: score, 95% interval, games; then each mark's
    Elo) and comparison.png (one panel per opponent, one line per run; then the Elo
    panel). No Elo without a board size or its calibration table."""
    opponents = sorted({o for rows in runs.values() for _, o in rows})
    lines = [
        "# " + " vs ".join(runs) + ": score with search noise off",
        "",
        "Each cell: the agent's score, its 95% Wilson interval and the games behind it.",
        "",
        "| opponent | training minutes | " + " | ".join(runs) + " |",
        "| --- | --- |" + " --- |" * len(runs),
    ]
    for opponent in opponents:
        marks = sorted({m for rows in runs.values() for m, o in rows if o == opponent})
        for minutes in marks:
            cells = []
            for rows in runs.values():
                row = rows.get((minutes, opponent))
                cells.append(
                    "-"
                    if row is None
                    else f"{row['score']:.1%} [{row['low']:.1%}, {row['high']:.1%}] ({row['games']})"
                )
            lines.append(f"| {opponent} | {minutes:g} | " + " | ".join(cells) + " |")
    ratings: Ratings = {}
    if size is not None:
        try:
            ratings = mark_ratings(runs, size)
        except (CalibrationError, RatingError) as error:  # a table, not a stop
            lines += ["", f"No Elo by mark: {error}"]
        else:
            lines += ratings_lines(ratings, size)
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.md").write_text(text)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = len(opponents) + (1 if ratings else 0)
    fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.5), squeeze=False)
    for ax, opponent in zip(axes[0][: len(opponents)], opponents, strict=True):
        for name, rows in runs.items():
            points = _score_points(rows, opponent)
            if points:
                _error_line(ax, points, name)
        ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"against {opponent}")
        ax.set_xlabel("training minutes (wall clock, 2 cores)")
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("agent score (95% interval)")
    if ratings:
        ax = axes[0][-1]
        for name, by_mark in ratings.items():
            rated = [
                (m, r.rating, r.low, r.high)
                for m, r in sorted(by_mark.items())
                if r.rating is not None and r.low is not None and r.high is not None
            ]
            _error_line(ax, rated, name)
        ax.axhline(1800, color="grey", linewidth=0.8, linestyle=":")
        ax.set_title("Elo (GnuGo 10 = 1800)")
        ax.set_xlabel("training minutes (wall clock, 2 cores)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "comparison.png", dpi=120)
    plt.close(fig)
    return text


def _score_points(rows: Results, opponent: str) -> list[tuple[float, float, float, float]]:
    """(minutes, score, low, high) of every mark evaluated against `opponent`."""
    return sorted(
        (m, r["score"], r["low"], r["high"]) for (m, o), r in rows.items() if o == opponent
    )


def _error_line(ax: Any, points: list[tuple[float, float, float, float]], label: str) -> None:
    """One line with 95% error bars through (x, value, low, high) points."""
    # Rows written before the one Wilson interval can hold a low end of 1.7e-18 above a
    # score of 0: clamped, since matplotlib refuses a negative error bar.
    ax.errorbar(
        [x for x, *_ in points],
        [value for _, value, _, _ in points],
        yerr=[
            [max(0.0, value - low) for _, value, low, _ in points],
            [max(0.0, high - value) for _, value, _, high in points],
        ],
        marker="o",
        capsize=3,
        label=label,
    )


def write_report(run_dir: RunDir, out: Path) -> str:
    """evaluation.md (a table) and evaluation.png (score against training minutes, one line
    per opponent, with 95% intervals) from RUN/learn_results.jsonl; the newest row of each
    (mark, opponent) counts."""
    rows = read_results(run_dir.path / "learn_results.jsonl")
    out.mkdir(parents=True, exist_ok=True)
    mode = run_dir.config.train.mode
    lines = [
        f"# {run_dir.name}: {mode} training, evaluated with search noise off",
        "",
        "| training minutes | step | opponent | games | agent score | 95% interval |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for (minutes, opponent), row in sorted(rows.items()):
        lines.append(
            f"| {minutes:g} | {row['step']} | {opponent} | {row['games']} | "
            f"{row['score']:.1%} | {row['low']:.1%} - {row['high']:.1%} |"
        )
    lines += ["", *throughput_table(run_dir.read_metrics())]
    lines += ["", *training_games_table(run_dir, rows)]
    text = "\n".join(lines) + "\n"
    (out / "evaluation.md").write_text(text)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for opponent in sorted({o for _, o in rows}):
        _error_line(ax, _score_points(rows, opponent), opponent)
    ax.axhline(0.5, color="grey", linewidth=0.8, linestyle=":")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("training minutes (wall clock, 2 cores)")
    ax.set_ylabel("agent score (95% interval)")
    ax.set_title(f"{run_dir.name}: {mode} training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "evaluation.png", dpi=120)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("train", "eval", "report", "compare"))
    parser.add_argument("folders", nargs="*", type=Path, help="compare: run or results folders")
    parser.add_argument("--run", type=Path, default=Path("runs/learn-self-9x9"))
    parser.add_argument("--mode", choices=("self", "crowd"), default="self")
    parser.add_argument("--marks", default="30,120", help="training minutes to snapshot at")
    parser.add_argument("--mark", type=float, help="eval: the mark to evaluate")
    parser.add_argument("--games", type=int, default=200, help="evaluation games per opponent")
    parser.add_argument("--opponents", default="random,gnugo:0")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--out", help="report: folder for evaluation.md and evaluation.png")
    args = parser.parse_args()

    if args.action == "compare":
        if len(args.folders) < 2 or not args.out:
            parser.error("compare needs two or more folders and --out FOLDER")
        try:
            runs = load_runs(args.folders)
        except (FileNotFoundError, ValueError) as error:
            parser.error(str(error))
        sizes = {board_size(folder) for folder in args.folders} - {None}
        size = sizes.pop() if len(sizes) == 1 else None
        print(write_comparison(runs, Path(args.out), size))
        return 0
    if args.folders:
        parser.error(f"{args.action} takes no folders (did you mean --run?)")

    if (args.run / "config.toml").is_file():
        run_dir = RunDir.open(args.run)
    else:
        overrides: dict[str, object] = {"train.mode": args.mode}
        for item in args.set:
            key, _, value = item.partition("=")
            overrides[key] = value
        run_dir = RunDir.create(args.run, apply_overrides(RunConfig(), overrides))

    if args.action == "train":
        train(run_dir, sorted(float(m) for m in args.marks.split(",")))
        return 0

    if args.action == "report":
        out = Path(args.out) if args.out else run_dir.path
        print(write_report(run_dir, out))
        return 0

    if args.mark is None:
        parser.error("eval needs --mark MINUTES")
    path = mark_path(run_dir, args.mark)
    if not path.exists():
        parser.error(f"{path} does not exist yet: train past {args.mark:g} minutes first")
    results_path = run_dir.path / "learn_results.jsonl"

    def save(row: dict) -> None:
        row["minutes"] = args.mark
        with results_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)

    rows = evaluate(
        run_dir, path, args.opponents.split(","), args.games, args.concurrency, on_row=save
    )
    console = Console()
    table = Table(title=f"{run_dir.name}: {run_dir.config.train.mode} training, {args.mark:g} min")
    for col in ("minutes", "step", "opponent", "games", "agent score", "95% interval", "eval s"):
        table.add_column(col, justify="right")
    for row in rows:
        table.add_row(
            f"{args.mark:g}",
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
