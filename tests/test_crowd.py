"""Crowd config: loading and validation, sampling, and the curriculum formula."""

from __future__ import annotations

import logging
import tomllib
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdzero.players.crowd import (
    Crowd,
    CrowdError,
    Curriculum,
    Record,
    curriculum_multiplier,
    curriculum_weights,
)

CURRICULUM = Curriculum(enabled=True, window=100, prior_games=4.0, floor=0.1)

THREE = """
[curriculum]
enabled = true
window = 20
prior_games = 2.0
floor = 0.1

[[member]]
name = "novice"
spec = "random"
weight = 1.0

[[member]]
name = "middling"
spec = "random-noeye"
weight = 1.0

[[member]]
name = "expert"
spec = "random:7"
weight = 1.0
"""


# ---------------------------------------------------------------- the formula alone


def test_an_unplayed_member_keeps_its_full_weight() -> None:
    assert curriculum_multiplier(Record(), CURRICULUM) == 1.0


def test_an_even_record_keeps_full_weight() -> None:
    assert curriculum_multiplier(Record(score=25, games=50), CURRICULUM) == 1.0


def test_always_winning_or_always_losing_sinks_toward_the_floor() -> None:
    won = curriculum_multiplier(Record(score=100, games=100), CURRICULUM)
    lost = curriculum_multiplier(Record(score=0, games=100), CURRICULUM)
    assert won == pytest.approx(lost)
    assert CURRICULUM.floor < won < 0.2


def test_more_evidence_moves_the_weight_further() -> None:
    few = curriculum_multiplier(Record(score=2, games=2), CURRICULUM)
    many = curriculum_multiplier(Record(score=50, games=50), CURRICULUM)
    assert many < few < 1.0


@given(
    games=st.integers(0, 500),
    fraction=st.floats(0, 1),
    floor=st.floats(0, 1),
    prior=st.floats(0.01, 50),
)
def test_the_multiplier_lies_between_floor_and_one(
    games: int, fraction: float, floor: float, prior: float
) -> None:
    curriculum = Curriculum(enabled=True, prior_games=prior, floor=floor)
    record = Record(score=fraction * games, games=games)
    multiplier = curriculum_multiplier(record, curriculum)
    assert floor - 1e-12 <= multiplier <= 1.0 + 1e-12
    mirrored = curriculum_multiplier(Record(score=games - record.score, games=games), curriculum)
    assert multiplier == pytest.approx(mirrored)  # beating it and losing to it are alike


@given(
    weights=st.lists(st.floats(0.01, 100), min_size=1, max_size=8),
    wins=st.lists(st.integers(0, 30), min_size=8, max_size=8),
)
def test_draw_weights_are_probabilities(weights: list[float], wins: list[int]) -> None:
    base = {f"m{i}": w for i, w in enumerate(weights)}
    records = {f"m{i}": Record(score=wins[i], games=30) for i in range(len(weights))}
    shaped = curriculum_weights(base, records, CURRICULUM)
    assert sum(shaped.values()) == pytest.approx(1.0)
    assert all(p > 0 for p in shaped.values())


def test_a_disabled_curriculum_draws_by_the_base_weights() -> None:
    base = {"a": 3.0, "b": 1.0}
    records = {"a": Record(score=100, games=100)}
    assert curriculum_weights(base, records, Curriculum(enabled=False)) == {
        "a": 0.75,
        "b": 0.25,
    }


# ---------------------------------------------------------------- a loaded crowd


def test_results_shift_the_draw_from_outgrown_novices_toward_even_opponents() -> None:
    with Crowd.from_toml(THREE) as crowd:
        assert crowd.weights() == pytest.approx({n: 1 / 3 for n in crowd.names})
        crowd.update([("novice", 1.0)] * 20)
        crowd.update([("middling", 1.0), ("middling", 0.0)] * 10)
        crowd.update([("expert", 0.0)] * 20)
        weights = crowd.weights()
    assert weights["middling"] > 3 * weights["novice"]
    assert weights["middling"] > 3 * weights["expert"]
    assert weights["novice"] == pytest.approx(weights["expert"])


def test_only_the_last_window_of_games_counts() -> None:
    with Crowd.from_toml(THREE) as crowd:
        crowd.update([("novice", 0.0)] * 50)
        crowd.update([("novice", 1.0), ("novice", 0.0)] * 10)  # the last 20 are even
        assert crowd.records()["novice"] == Record(score=10.0, games=20)
        assert crowd.weights()["novice"] == pytest.approx(1 / 3)


def test_sampling_follows_the_weights() -> None:
    text = """
    [[member]]
    spec = "random"
    weight = 3.0
    [[member]]
    spec = "random-noeye"
    weight = 1.0
    """
    with Crowd.from_toml(text) as crowd:
        rng = np.random.default_rng(0)
        counts = Counter(crowd.sample(rng) for _ in range(4000))
    assert set(counts) == {"random", "random-noeye"}
    assert counts["random"] / 4000 == pytest.approx(0.75, abs=0.03)


def test_a_zero_weight_member_is_never_drawn() -> None:
    text = """
    [[member]]
    spec = "random"
    weight = 0
    [[member]]
    spec = "random-noeye"
    """
    with Crowd.from_toml(text) as crowd:
        rng = np.random.default_rng(1)
        assert {crowd.sample(rng) for _ in range(200)} == {"random-noeye"}


def test_members_share_one_player_each() -> None:
    with Crowd.from_toml(THREE) as crowd:
        assert crowd.player("novice") is crowd.player("novice")
        assert crowd.player("novice") is not crowd.player("middling")


def test_a_member_whose_engine_is_missing_is_disabled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A machine where build_pachi.sh never ran: nothing in the data dir or on PATH.
    monkeypatch.delenv("CROWDZERO_PACHI", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    text = """
    [[member]]
    spec = "random"
    [[member]]
    name = "pachi"
    spec = "pachi:1000"
    """
    with Crowd.from_toml(text) as crowd:
        assert crowd.names == ("random",)
        assert "Pachi is not built" in crowd.disabled["pachi"]
        assert "scripts/build_pachi.sh" in crowd.disabled["pachi"]
        assert crowd.sample(np.random.default_rng(0)) == "random"


def test_katago_missing_disables_both_default_experts_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CROWDZERO_KATAGO_DIR", str(tmp_path / "no-katago"))
    with (
        caplog.at_level("WARNING", logger="crowdzero.players.crowd"),
        Crowd.load("default", board_size=9) as crowd,
    ):
        assert "katago:1" not in crowd.names and "gnugo:10" in crowd.names
        assert "install_katago" in crowd.disabled["katago:8"]
    warnings = [r.getMessage() for r in caplog.records if "KataGo" in r.getMessage()]
    assert len(warnings) == 1, warnings
    assert "members katago:1, katago:8 disabled" in warnings[0]


def test_a_member_sits_out_board_sizes_its_sizes_leave_out() -> None:
    text = THREE + "sizes = [9]\n"  # the expert plays 9x9 only
    with Crowd.from_toml(text, board_size=7) as crowd:
        assert crowd.names == ("novice", "middling")
        assert "9x9 only" in crowd.disabled["expert"] and "not 7x7" in crowd.disabled["expert"]
    with Crowd.from_toml(text, board_size=9) as crowd:
        assert crowd.names == ("novice", "middling", "expert")
        assert crowd.member("expert").sizes == (9,)
    with Crowd.from_toml(text) as crowd:  # size unknown: everyone stays
        assert len(crowd.names) == 3
    with Crowd.from_toml(text, build_players=False, board_size=7) as crowd:
        assert crowd.names == ("novice", "middling")
    with pytest.raises(CrowdError, match="every member is disabled"):
        Crowd.from_toml('[[member]]\nspec = "random"\nsizes = [9, 13]', board_size=7)


def test_the_default_crowd_plays_other_board_sizes_without_katago(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Sitting out a size the crowd file leaves out is what the file asked for: noted in
    the log, never a warning (commands that must answer in one line stay one line)."""
    with (
        caplog.at_level(logging.INFO),
        Crowd.load("default", build_players=False, board_size=7) as crowd,
    ):
        assert "katago:1" in crowd.disabled and "katago:8" in crowd.disabled
        assert "gnugo:10" in crowd.names
    notes = [r for r in caplog.records if "katago:1, katago:8 disabled" in r.getMessage()]
    assert [r.levelno for r in notes] == [logging.INFO]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[member]]\nspec = "random"\nsizes = 9', "sizes must be a non-empty list"),
        ('[[member]]\nspec = "random"\nsizes = [4]', "board sizes 5..19"),
        ('[[member]]\nspec = "random"\nsizes = []', "such as [9]"),
        ('[[member]]\nspec = "chess:9"', "unknown player spec 'chess:9'"),
        ('[[member]]\nspec = "gnugo:12"', "0 to 10"),
        ('[[member]]\nspec = "random"\nweight = -1', "weight must be a finite number >= 0"),
        ('[[member]]\nspec = "random"\nweight = "heavy"', "must be a number"),
        ("[curriculum]\nenabled = true", "no members"),
        ('[[member]]\nspec = "random"\nweight = 0', "weight 0"),
        ('[[member]]\nspec = "random"\n[[member]]\nspec = "random"', "unique: random"),
        ('[[member]]\nspec = "random"\nwieght = 2', "unknown key(s) wieght"),
        ('[[member]]\nspec = "random"\n[curriculum]\nfloor = 2', "floor must be in [0, 1]"),
        ('[[member]]\nspec = "random"\n[study]\nheld_out = ["random"]', "held out"),
        ("[[member]\n", "not valid TOML"),
    ],
)
def test_a_bad_crowd_file_is_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(CrowdError) as caught:
        Crowd.from_toml(text)
    assert message in str(caught.value)


def test_a_crowd_of_only_missing_engines_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CROWDZERO_PACHI", str(tmp_path / "no-pachi"))
    with pytest.raises(CrowdError, match="every member is disabled"):
        Crowd.from_toml('[[member]]\nspec = "pachi:1000"')


def test_results_for_strangers_or_impossible_scores_are_refused() -> None:
    with Crowd.from_toml(THREE) as crowd:
        with pytest.raises(CrowdError, match="no crowd member named 'gnugo:5'"):
            crowd.update([("gnugo:5", 1.0)])
        with pytest.raises(CrowdError, match="1 \\(win\\)"):
            crowd.update([("novice", 2.0)])


def test_load_reads_a_file_and_names_it_in_errors(tmp_path: Path) -> None:
    path = tmp_path / "crowd.toml"
    path.write_text(THREE)
    with Crowd.load(path) as crowd:
        assert crowd.names == ("novice", "middling", "expert")
    with pytest.raises(CrowdError, match="cannot read crowd file"):
        Crowd.load(tmp_path / "missing.toml")


# ---------------------------------------------------------------- the default crowd


def _default_toml() -> dict[str, Any]:
    text = resources.files("crowdzero.players").joinpath("default_crowd.toml").read_text()
    return tomllib.loads(text)


def test_the_default_crowd_grades_from_random_to_experts_and_holds_levels_out() -> None:
    data = _default_toml()
    specs = [m["spec"] for m in data["member"]]
    assert specs[:2] == ["random", "random-noeye"]
    assert [s for s in specs if s.startswith("gnugo:")] == [
        "gnugo:0",
        "gnugo:3",
        "gnugo:6",
        "gnugo:10",
    ]
    held_out = data["study"]["held_out"]
    assert held_out == ["gnugo:1", "gnugo:2", "gnugo:5", "gnugo:8"]
    assert not set(held_out) & set(specs)
    assert "pachi:1000" in specs and "mcts:200" in specs
    assert len([s for s in specs if s.startswith("heuristic:")]) == 5
    experts = [m for m in data["member"] if m["spec"].startswith("katago:")]
    assert [m["spec"] for m in experts] == ["katago:1", "katago:8"]  # the expert tier, last
    assert specs[-2:] == ["katago:1", "katago:8"]
    assert all(m["sizes"] == [9] and 0 < m["weight"] < 1 for m in experts)  # drawn less


def test_the_default_crowd_loads() -> None:
    with Crowd.load("default") as crowd:
        assert crowd.curriculum.enabled
        assert "gnugo:10" in crowd.names
        assert set(crowd.names) | set(crowd.disabled) == {
            m["name"] for m in _default_toml()["member"]
        }
        assert sum(crowd.weights().values()) == pytest.approx(1.0)
