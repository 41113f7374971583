"""The ablation's table: seeds and panel opponents of one variant are pooled for the
interval and shown one by one for the spread, and the table grows over separate
invocations."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from benchmarks.ablation import (
    against_reference,
    report,
    run_name,
    run_variant,
    stored_rows,
    summarise,
)


def row(
    variant: str,
    score: float,
    seed: int | None = None,
    minutes: float = 10.0,
    opponent: str = "gnugo:0",
) -> dict:
    out = {
        "variant": variant,
        "opponent": opponent,
        "score": score,
        "games": 100,
        "step": 300,
        "train_games": 900,
        "minutes": minutes,
        "size": 7,
        "low": 0.0,
        "high": 1.0,
    }
    if seed is not None:
        out["seed"] = seed
    return out


def test_seeds_of_a_variant_are_pooled_and_kept_apart() -> None:
    # The first pass wrote rows without a seed: they are seed 0.
    rows = [row("all", 0.60), row("-refresh", 0.40), row("all", 0.50, seed=1)]
    summaries = {s.variant: s for s in summarise(rows)}
    everything = summaries["all"]
    assert everything.seeds == (0, 1)
    assert everything.scores == (0.60, 0.50)
    assert everything.games == 200
    assert everything.score == pytest.approx(0.55)
    low, high = everything.interval()
    assert low < 0.55 < high and high - low < 0.15  # 200 games, not 100
    assert summaries["-refresh"].seeds == (0,)
    assert list(summaries) == ["all", "-refresh"]


def test_run_names_keep_seed_zero_plain() -> None:
    assert run_name("-value-rows", 0) == "value-rows"
    assert run_name("all", 2) == "all@seed2"


def test_the_table_holds_every_stored_seed_of_this_budget(tmp_path: Path) -> None:
    rows = [row("all", 0.6), row("all", 0.5, seed=1), row("all", 0.9, seed=2, minutes=20.0)]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(out=tmp_path, minutes=10.0, size=7, opponents="gnugo:0", games=100)
    stored = stored_rows(args)
    assert [(r["variant"], r.get("seed", 0)) for r in stored] == [("all", 0), ("all", 1)]
    report(stored, args, Console(file=io.StringIO()))
    table = (tmp_path / "ablation.md").read_text()
    assert "| all | 0,1 | 300,300 | 900,900 | 55% | 60%, 50% | 55.0% |" in table
    assert (tmp_path / "ablation.png").read_bytes()[:4] == b"\x89PNG"


def test_a_variant_is_scored_over_the_panel_and_each_opponent_is_shown(tmp_path: Path) -> None:
    """A panel brackets the agent (one opponent it nearly always beats, one it nearly
    never does): the score pools both, each opponent's shows on its own, and rows against
    an opponent outside the panel (an earlier choice) are left out."""
    rows = [
        row("all", 0.96, opponent="mcts:400"),
        row("all", 0.14, opponent="pachi:500"),
        row("all", 0.0, opponent="gnugo:0"),
        row("old", 0.50, opponent="mcts:400"),
    ]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(
        out=tmp_path, minutes=10.0, size=7, opponents="mcts:400,pachi:500", games=100
    )
    stored = stored_rows(args)
    assert sorted(r["opponent"] for r in stored) == ["mcts:400", "mcts:400", "pachi:500"]
    summaries = {s.variant: s for s in summarise(stored)}
    assert summaries["all"].score == pytest.approx(0.55) and summaries["all"].games == 200
    assert summaries["all"].by_opponent == {"mcts:400": 0.96, "pachi:500": 0.14}
    report(stored, args, Console(file=io.StringIO()))
    table = (tmp_path / "ablation.md").read_text().splitlines()
    assert "| vs mcts:400 | vs pachi:500 |" in table[0]
    assert "| all | 0 | 300 | 900 | 96% | 14% | 55% | 55.0% |" in table[2]
    assert "| old | 0 | 300 | 900 | 50% | - | 50% | 50.0% |" in table[3]  # not yet played


def test_a_variant_that_played_the_whole_panel_is_neither_trained_nor_played_again(
    tmp_path: Path,
) -> None:
    rows = [row("all", 0.9, opponent="mcts:400"), row("all", 0.1, opponent="pachi:500")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(
        out=tmp_path, minutes=10.0, size=7, opponents="mcts:400,pachi:500", games=100
    )
    got = run_variant("all", {}, 0, args, Console(file=io.StringIO()))
    assert sorted(r["score"] for r in got) == [0.1, 0.9]
    assert not (tmp_path / "all").exists()  # no run folder: nothing was trained


def test_each_variant_is_tested_against_all_within_each_opponent(tmp_path: Path) -> None:
    """A variant that falls against the opponent where there is room to fall is evidence
    (small p, still small after Holm); one that scores as `all` does is not; an opponent
    every variant loses to adds nothing; seeds of `all` pool into its cells."""
    rows = [
        row("all", 0.95, seed=0, opponent="mcts:400"),
        row("all", 0.97, seed=1, opponent="mcts:400"),
        row("all", 0.0, seed=0, opponent="pachi:500"),
        row("all", 0.0, seed=1, opponent="pachi:500"),
        row("-worse", 0.60, opponent="mcts:400"),
        row("-worse", 0.0, opponent="pachi:500"),
        row("-same", 0.96, opponent="mcts:400"),
        row("-same", 0.0, opponent="pachi:500"),
    ]
    tests = against_reference(summarise(rows))
    assert set(tests) == {"-worse", "-same"}
    p_worse, holm_worse = tests["-worse"]
    p_same, holm_same = tests["-same"]
    assert p_worse < 1e-6 and p_worse <= holm_worse <= 2 * p_worse
    assert p_same > 0.5 and holm_same == pytest.approx(1.0)
    # The pachi:500 stratum (0% for everyone) carries no weight: the test is the same
    # without it.
    alone = against_reference(summarise([r for r in rows if r["opponent"] == "mcts:400"]))
    assert alone["-worse"][0] == pytest.approx(p_worse)

    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    args = argparse.Namespace(
        out=tmp_path, minutes=10.0, size=7, opponents="mcts:400,pachi:500", games=100
    )
    report(stored_rows(args), args, Console(file=io.StringIO()))
    table = (tmp_path / "ablation.md").read_text().splitlines()
    assert table[0].endswith("| p vs all (Holm) |")
    assert table[2].endswith("| - |")  # all itself
    assert table[3].endswith("| < 0.001 (< 0.001) |")


def test_without_all_nothing_is_tested() -> None:
    assert against_reference(summarise([row("-refresh", 0.5), row("old", 0.4)])) == {}
