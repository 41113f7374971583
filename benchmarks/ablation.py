"""Which learner changes pay? Short crowd runs, one change switched off at a time.

Every variant is the same crowd run (7x7 by default, the default crowd) with the same
wall-clock budget, started from zero, alone on the machine; its final checkpoint then
plays a fixed panel of opponents with search noise off. The first variant has every
change on; each `-name` variant turns one off (back to what crowdzero did before, see
VARIANTS); `old` turns all of them off. A change is justified when switching it off lowers
the score.

    python -m benchmarks.ablation --minutes 10 --games 50
    python -m benchmarks.ablation --only all,-value-rows --minutes 10
    python -m benchmarks.ablation --only all --seeds 1,2 --minutes 10   # run-to-run spread

The panel (--opponents, default mcts:400,pachi:500) brackets a 10-minute 7x7 agent: with
every change on it scored 0% against GnuGo level 0 (100 games), 96% against mcts:400 and
4 of 80 against pachi:500, so no single fixed opponent leaves room both to fall and to
rise (the panel mostly sees a variant fall; pachi:500 is there to see one rise).
A variant's score is pooled over the panel (the same number of games against each), and
each opponent's score is shown beside it, with a p-value against `all` (stratified by
opponent, Holm-adjusted over the variants: `against_reference`).

One run per variant says nothing about how far two runs of the *same* variant land apart;
`--seeds` trains a variant again from other seeds (``train.seed``; runs VARIANT@seedS, seed
0 keeps the plain name), and the table shows every seed's score beside the pooled one, so a
difference between variants can be read against the spread between seeds.

Runs live in --out (default runs/ablation-7x7/VARIANT); a variant already trained for the
budget is not trained again, and an opponent it has already played is not played again, so
the command resumes after an interruption. Results: --out/results.jsonl (one line per
variant, seed and opponent), a table on the terminal and --out/ablation.md, and a bar chart
--out/ablation.png.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.learn import evaluate, train
from crowdzero.analysis.inference import cochran_mantel_haenszel, holm, wilson_interval
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


def run_name(variant: str, seed: int) -> str:
    """The run folder of a variant and seed: seed 0 keeps the plain name (older runs)."""
    return variant.lstrip("-") + ("" if seed == 0 else f"@seed{seed}")


def panel(args: argparse.Namespace) -> list[str]:
    """The fixed opponents every variant plays, in the order given."""
    return [spec for spec in args.opponents.split(",") if spec]


def run_variant(
    name: str, overrides: dict[str, Any], seed: int, args: argparse.Namespace, console: Console
) -> list[dict[str, Any]]:
    """Train (or finish training) one variant from one seed, then play each panel opponent
    it has not played yet; its rows, one per opponent (empty without a checkpoint)."""
    done = {
        row["opponent"]: row
        for row in stored_rows(args)
        if row["variant"] == name and row.get("seed", 0) == seed
    }
    missing = [spec for spec in panel(args) if spec not in done]
    if not missing:
        return list(done.values())
    results = args.out / "results.jsonl"
    path = args.out / run_name(name, seed)
    if (path / "config.toml").is_file():
        run_dir = RunDir.open(path)
    else:
        cfg = apply_overrides(
            RunConfig(),
            {**base_overrides(args.size, args.simulations), **overrides, "train.seed": seed},
        )
        run_dir = RunDir.create(path, cfg)
    console.print(f"[bold]{name}[/]: training {args.minutes:g} min in {path}")
    train(run_dir, [args.minutes])
    checkpoint = run_dir.latest_checkpoint_path()
    if checkpoint is None:
        console.print(f"[red]{name}: no checkpoint after training[/]")
        return []
    metrics = run_dir.read_metrics()
    last = metrics[-1] if metrics else {}
    about = {
        "variant": name,
        "seed": seed,
        "overrides": overrides,
        "minutes": args.minutes,
        "size": args.size,
        "train_games": int(last.get("games") or 0),
    }
    rows = list(done.values())

    def keep(row: dict[str, Any]) -> None:  # each opponent's row as soon as it is measured
        row |= about
        rows.append(row)
        with results.open("a") as f:
            f.write(json.dumps(row) + "\n")

    evaluate(run_dir, checkpoint, missing, args.games, args.concurrency, on_row=keep)
    return rows


@dataclass(frozen=True)
class VariantScore:
    """One variant over its seeds: each seed's score, and the games pooled."""

    variant: str
    seeds: tuple[int, ...]
    scores: tuple[float, ...]  # each seed's, pooled over the panel
    steps: tuple[int, ...]
    train_games: tuple[int, ...]
    points: float
    games: int
    per_opponent: dict[str, tuple[float, int]]  # each opponent's (points, games), seeds pooled

    @property
    def score(self) -> float:
        return _ratio(self.points, self.games)

    @property
    def by_opponent(self) -> dict[str, float]:
        """Each opponent's score, pooled over the seeds."""
        return {name: _ratio(*cell) for name, cell in self.per_opponent.items()}

    def interval(self) -> tuple[float, float]:
        """Wilson 95% over the pooled games: the evaluation's noise only; the spread
        between seeds (`scores`) is the training's."""
        return wilson_interval(self.points, self.games)


def _ratio(points: float, games: int) -> float:
    return points / games if games else 0.5


def _pooled(rows: list[dict[str, Any]]) -> tuple[float, int]:
    return sum(r["score"] * r["games"] for r in rows), sum(r["games"] for r in rows)


def summarise(rows: list[dict[str, Any]]) -> list[VariantScore]:
    """One VariantScore per variant, in first-seen order; rows without a seed are seed 0."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(row["variant"], []).append(row)
    out = []
    for variant, group in grouped.items():
        by_seed: dict[int, list[dict[str, Any]]] = {}
        by_opponent: dict[str, list[dict[str, Any]]] = {}
        for row in group:
            by_seed.setdefault(row.get("seed", 0), []).append(row)
            by_opponent.setdefault(row.get("opponent", "?"), []).append(row)
        seeds = sorted(by_seed)
        points, games = _pooled(group)
        out.append(
            VariantScore(
                variant,
                tuple(seeds),
                tuple(_ratio(*_pooled(by_seed[s])) for s in seeds),
                tuple(by_seed[s][0]["step"] for s in seeds),
                tuple(by_seed[s][0]["train_games"] for s in seeds),
                points,
                games,
                {name: _pooled(rs) for name, rs in by_opponent.items()},
            )
        )
    return out


REFERENCE = "all"


def against_reference(summaries: list[VariantScore]) -> dict[str, tuple[float, float]]:
    """Each variant against `all`: the Cochran-Mantel-Haenszel p-value over the panel's
    opponents (each opponent a stratum, seeds pooled, so an opponent every variant beats,
    or none does, carries no weight) and its Holm-adjusted value over the variants, so a
    reader can tell which differences are evidence; nan where nothing varied.

    The games are the units, so the p-values hold the evaluation's noise only; the spread
    between seeds of `all` is the check on training noise."""
    by_name = {summary.variant: summary for summary in summaries}
    reference = by_name.get(REFERENCE)
    if reference is None:
        return {}

    def wins_losses(cell: tuple[float, int]) -> list[float]:
        points, games = cell
        return [points, games - points]

    tested = [name for name in by_name if name != REFERENCE]
    p_values = []
    for name in tested:
        cells = by_name[name].per_opponent
        tables = [
            [wins_losses(cell), wins_losses(reference.per_opponent[opponent])]
            for opponent, cell in cells.items()
            if opponent in reference.per_opponent
        ]
        p_values.append(cochran_mantel_haenszel(tables).p_value if tables else math.nan)
    return dict(zip(tested, zip(p_values, holm(p_values), strict=True), strict=True))


def _p(value: float) -> str:
    return "-" if math.isnan(value) else ("< 0.001" if value < 0.001 else f"{value:.3f}")


def stored_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every evaluated variant, seed and panel opponent of this budget in
    --out/results.jsonl (newest row of each), so the table grows over separate invocations
    (`--seeds` after the first pass); rows against opponents outside the panel are left
    out (a variant is compared on one panel only)."""
    path = args.out / "results.jsonl"
    wanted = set(panel(args))
    rows: dict[tuple[str, int, str], dict[str, Any]] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        row = json.loads(line)
        same_budget = row["minutes"] == args.minutes and row.get("size", args.size) == args.size
        if same_budget and row.get("opponent") in wanted:
            rows[(row["variant"], row.get("seed", 0), row["opponent"])] = row
    return list(rows.values())


def report(rows: list[dict[str, Any]], args: argparse.Namespace, console: Console) -> None:
    summaries = summarise(rows)
    opponents = panel(args)
    table = Table(
        title=f"ablation: {args.size}x{args.size}, {args.minutes:g} min each, "
        f"vs {' + '.join(opponents)}, {args.games} games each a seed, noise off"
    )
    columns = (
        "variant",
        "seeds",
        "step",
        "games trained",
        *(f"vs {name}" for name in opponents),
        "score by seed",
        "score",
        "95% interval",
        f"p vs {REFERENCE} (Holm)",
    )
    tests = against_reference(summaries)
    for column in columns:
        table.add_column(column, justify="right")
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for summary in summaries:
        low, high = summary.interval()
        cells = (
            summary.variant,
            ",".join(map(str, summary.seeds)),
            ",".join(map(str, summary.steps)),
            ",".join(map(str, summary.train_games)),
            *(
                f"{summary.by_opponent[name]:.0%}" if name in summary.by_opponent else "-"
                for name in opponents
            ),
            ", ".join(f"{s:.0%}" for s in summary.scores),
            f"{summary.score:.1%}",
            f"{low:.1%} - {high:.1%}",
            (
                f"{_p(tests[summary.variant][0])} ({_p(tests[summary.variant][1])})"
                if summary.variant in tests
                else "-"
            ),
        )
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    console.print(table)
    (args.out / "ablation.md").write_text("\n".join(lines) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.35 * len(summaries) + 1.5))
    shown = summaries[::-1]
    names = [s.variant for s in shown]
    bounds = [s.interval() for s in shown]
    errors = [
        [max(0.0, s.score - low) for s, (low, _) in zip(shown, bounds, strict=True)],
        [max(0.0, high - s.score) for s, (_, high) in zip(shown, bounds, strict=True)],
    ]
    ax.barh(names, [s.score for s in shown], xerr=errors, color="#4a7ab0", capsize=3)
    for y, summary in enumerate(shown):  # each seed's own score, so the spread shows
        ax.plot(summary.scores, [y] * len(summary.scores), "k|", markersize=10)
    ax.set_xlim(0, 1)
    ax.set_xlabel(
        f"score vs {' + '.join(opponents)} ({args.games} games each a seed; bar: pooled, "
        "95% interval; ticks: seeds)"
    )
    ax.set_title(f"one change off at a time: {args.size}x{args.size}, {args.minutes:g} min each")
    fig.tight_layout()
    fig.savefig(args.out / "ablation.png", dpi=120)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation-7x7"))
    parser.add_argument("--size", type=int, default=7)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--simulations", type=int, default=32)
    parser.add_argument(
        "--opponents",
        "--opponent",
        default="mcts:400,pachi:500",
        help="comma-separated fixed opponents (the panel)",
    )
    parser.add_argument("--games", type=int, default=50, help="games per opponent and seed")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated variant names")
    parser.add_argument("--seeds", default="0", help="comma-separated train.seed values")
    args = parser.parse_args()
    try:
        seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes whole numbers, got {args.seeds!r}")
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = variants()
    if args.only:
        wanted = args.only.split(",")
        unknown = [w for w in wanted if w not in chosen]
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {list(chosen)}")
        chosen = {k: v for k, v in chosen.items() if k in wanted}
    console = Console()
    for seed in seeds:
        for name, overrides in chosen.items():
            if run_variant(name, overrides, seed, args, console):
                report(stored_rows(args), args, console)
    return 0


if __name__ == "__main__":
    sys.exit(main())
