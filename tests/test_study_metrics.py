"""The study's measurements on hand-made inputs whose answers are known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdzero.analysis.study import metrics as m
from crowdzero.analysis.study.collect import MemberModels, StudyAgent, agent_moves
from crowdzero.analysis.study.measure import (
    box_moves,
    flaw_rates,
    out_of_box_summary,
    value_check,
)
from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.features import FeatureSpec
from crowdzero.go.position import Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.players.flaws import FlawReport
from crowdzero.search.config import SearchConfig

RULES = Rules(size=5, komi=0.5)


def _game(black: str, white: str, points: list[str], winner: int) -> Game:
    moves = []
    colour = BLACK
    for text in points:
        moves.append(
            Move(colour, gtp_to_point(text, 5), player=black if colour == BLACK else white)
        )
        colour = -colour
    result = "B+R" if winner == BLACK else "W+R" if winner == WHITE else "0"
    return Game(RULES, black, white, tuple(moves), result, winner, "2025-01-01")


# -- intervals -------------------------------------------------------------------------


def test_wilson_interval_matches_the_textbook_values_for_8_of_10() -> None:
    estimate = m.wilson(8, 10)
    assert estimate.value == pytest.approx(0.8)
    assert estimate.low == pytest.approx(0.4902, abs=1e-4)
    assert estimate.high == pytest.approx(0.9433, abs=1e-4)
    assert estimate.n == 10 and estimate.games == 10


def test_wilson_interval_ends_exactly_at_0_and_1_for_clean_sweeps() -> None:
    assert m.wilson(0, 7).low == 0.0
    assert m.wilson(7, 7).high == 1.0


def test_no_data_is_an_empty_estimate_not_a_zero() -> None:
    estimate = m.wilson(0, 0)
    assert estimate.empty and math.isnan(estimate.value)


@given(st.integers(0, 200), st.integers(1, 200))
def test_wilson_interval_contains_the_proportion_and_stays_in_0_1(k: int, n: int) -> None:
    k = min(k, n)
    estimate = m.wilson(k, n)
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0


def test_bootstrap_mean_pools_values_and_resamples_whole_games() -> None:
    estimate = m.bootstrap_mean([[1.0, 1.0, 1.0], [0.0]])
    assert estimate.value == pytest.approx(0.75)  # pooled over positions, not games
    assert estimate.n == 4 and estimate.games == 2
    assert 0.0 <= estimate.low <= estimate.value <= estimate.high <= 1.0
    assert estimate.low < estimate.high


def test_bootstrap_of_identical_games_has_no_width() -> None:
    estimate = m.bootstrap_mean([[0.2, 0.4], [0.2, 0.4], [0.2, 0.4]])
    assert estimate.low == pytest.approx(0.3) and estimate.high == pytest.approx(0.3)


def test_compare_calls_a_claim_supported_only_when_intervals_are_disjoint() -> None:
    high = m.Estimate(0.8, 0.7, 0.9, 100, 100)
    low = m.Estimate(0.3, 0.2, 0.4, 100, 100)
    middle = m.Estimate(0.5, 0.35, 0.75, 100, 100)
    assert m.compare(high, low, "greater") == "supported"
    assert m.compare(low, high, "greater") == "contradicted"
    assert m.compare(low, high, "less") == "supported"
    assert m.compare(high, middle, "greater") == "not supported"
    assert m.compare(high, m.no_data(), "greater") == "no data"
    assert m.above(high, 0.5) == "supported" and m.above(low, 0.5) == "contradicted"


# -- imitation -------------------------------------------------------------------------


def test_top1_is_one_when_the_agent_plays_every_member_move() -> None:
    game = _game("agent", "heuristic:greedy", ["c3", "b2", "d4", "b4"], BLACK)
    member = [mv.point for mv in game.moves if mv.colour == WHITE]
    estimate = m.top1_agreement(list(member), member, games=1)
    assert estimate.value == 1.0 and estimate.n == 2 and estimate.games == 1


def test_top1_counts_the_agreeing_share() -> None:
    assert m.top1_agreement([1, 2, 3, 4], [1, 2, 0, 0]).value == 0.5


def test_log_likelihood_of_a_move_the_member_plays_half_the_time_is_log_half() -> None:
    distribution = np.zeros(26)
    distribution[[3, 7]] = 0.5
    assert m.choice_log_likelihood(distribution, 3) == pytest.approx(math.log(0.5))


def test_log_likelihood_of_a_move_the_member_never_plays_is_floored() -> None:
    distribution = np.zeros(26)
    distribution[0] = 1.0
    assert m.choice_log_likelihood(distribution, 5) == pytest.approx(math.log(m.LOG_FLOOR))


# -- out-of-the-box play ---------------------------------------------------------------


def test_a_move_is_out_of_the_box_only_if_every_member_would_not_play_it() -> None:
    probabilities = np.array([[0.0, 0.005], [0.0, 0.5], [0.02, 0.0], [0.009, 0.009]])
    assert m.out_of_box(probabilities, 0.01).tolist() == [True, False, False, True]
    assert m.out_of_box(np.zeros((3, 0))).tolist() == [False, False, False]


def test_ignoring_a_capture_is_out_of_the_box_for_the_greedy_member() -> None:
    # White's stone at C3 is in atari (B3, C2, D3 are black); black may capture at C4.
    position = Position(RULES)
    for text in ["b3", "c3", "c2", "a1", "d3", "e5"]:
        position.play(gtp_to_point(text, 5))
    models = MemberModels(["heuristic:greedy", "gnugo:3"])
    assert models.names == ("heuristic:greedy",)  # GnuGo has no distribution
    distribution = models.distribution("heuristic:greedy", position)
    assert distribution is not None
    capture, elsewhere = gtp_to_point("c4", 5), gtp_to_point("e1", 5)
    flags = m.out_of_box(np.array([[distribution[elsewhere]], [distribution[capture]]]))
    assert flags.tolist() == [True, False]


def test_out_of_box_share_and_outcomes_of_a_crafted_game() -> None:
    # The agent (black) ignores the capture at C4 once; its other three moves are
    # checked against greedy's own distribution, so the expected count is exact.
    game = _game("agent", "heuristic:greedy", ["b3", "c3", "c2", "a1", "d3", "e5", "e1"], BLACK)
    models = MemberModels(["heuristic:greedy"])
    expected = 0
    for move in agent_moves([game], "agent"):
        distribution = models.distribution("heuristic:greedy", move.position)
        assert distribution is not None
        expected += int(distribution[move.point] < 0.01)
    assert expected >= 1  # e1 at least
    box = out_of_box_summary(box_moves([game], "agent", models, threshold=0.01))
    assert box.share.n == 4 and box.share.value == pytest.approx(expected / 4)
    assert box.with_novel.value == 1.0 and box.with_novel.n == 1  # the game was won
    assert box.without_novel.empty
    assert box.members == ("heuristic:greedy",)


def test_random_movers_are_left_out_of_the_out_of_the_box_test() -> None:
    game = _game("agent", "random", ["c3", "b2", "d4"], BLACK)
    box = out_of_box_summary(
        box_moves([game], "agent", MemberModels(["random", "heuristic:local"]))
    )
    assert box.members == ("heuristic:local",)
    assert box.share_all.value == 0.0  # random gives every legal point 1/25 > 0.01


# -- exploitation, flaws ---------------------------------------------------------------


def test_win_rate_counts_draws_as_half_and_skips_void_games() -> None:
    games = [
        _game("agent", "random", ["c3"], BLACK),
        _game("random", "agent", ["c3"], BLACK),
        _game("agent", "random", ["c3"], 0),
        _game("random", "agent", ["c3"], WHITE),
    ]
    void = Game(RULES, "agent", "random", (), "Void", 0, "2025-01-01")
    estimate = m.win_rate([*games, void], "agent")
    assert estimate.value == pytest.approx(2.5 / 4) and estimate.n == 4


def test_flaw_rate_from_crafted_reports() -> None:
    reports = [FlawReport.at([3]), FlawReport.at([]), FlawReport.at([5, 9]), FlawReport.at([])]
    assert m.flaw_rate(reports).value == 0.5
    assert m.flaw_count_mean(reports).value == pytest.approx(0.75)


def test_flaw_rates_only_cover_members_with_a_planted_flaw() -> None:
    game = _game("agent", "heuristic:greedy", ["c3", "b2"], BLACK)
    rates = flaw_rates({"heuristic:greedy": [game], "random": [game]}, "agent")
    assert set(rates) == {"heuristic:greedy"}
    assert rates["heuristic:greedy"].n == 1


# -- values ----------------------------------------------------------------------------


def test_calibration_curve_of_synthetic_predictions() -> None:
    predicted = [0.15] * 10 + [0.85] * 10
    actual = [1.0] + [0.0] * 9 + [1.0] * 9 + [0.0]
    curve = m.calibration_curve(predicted, actual, bins=10)
    assert len(curve) == 10
    assert curve[1].count == 10 and curve[1].observed == pytest.approx(0.1)
    assert curve[8].count == 10 and curve[8].observed == pytest.approx(0.9)
    assert curve[0].count == 0 and math.isnan(curve[0].observed)


def test_a_prediction_of_exactly_one_lands_in_the_last_bin() -> None:
    assert m.calibration_curve([1.0], [1.0], bins=4)[-1].count == 1


def test_always_saying_half_scores_a_brier_of_a_quarter() -> None:
    estimate = m.brier_score([[0.5, 0.5], [0.5]], [[1.0, 1.0], [0.0]])
    assert estimate.value == pytest.approx(0.25) and estimate.n == 3 and estimate.games == 2


def test_overrating_is_the_mean_of_predicted_minus_actual() -> None:
    estimate = m.overrating([[0.9, 0.8], [0.7]], [[0.0, 0.0], [1.0]])
    assert estimate.value == pytest.approx((0.9 + 0.8 - 0.3) / 3)


def test_values_become_win_probabilities() -> None:
    assert m.win_probability(np.array([-1.0, 0.0, 1.0])).tolist() == [0.0, 0.5, 1.0]


def test_move_buckets_scale_with_the_board() -> None:
    assert m.move_bucket(0, 9) == "0-9"
    assert m.move_bucket(25, 9) == "20-39"
    assert m.move_bucket(100, 9) == "80+"
    assert m.move_bucket(0, 5) == "0-2"  # 10 plies on 9x9 is 3 on 5x5


class _MoverWins:
    """An evaluator that says the side to move always wins (value +1)."""

    feature_spec = FeatureSpec(history=1, liberties=False)
    board_size = 5

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch = features.shape[0]
        return np.zeros((batch, 26), dtype=np.float32), np.ones(batch, dtype=np.float32)


def test_value_check_reads_the_value_head_on_both_sides_of_the_agents_moves() -> None:
    """The agent (black) loses. 'The mover wins' is maximally wrong where the agent moves
    (it predicts 1 for a 0) and exactly right after its moves (the opponent to move wins);
    the move that ends the game (a second pass) has no position after it."""
    game = _game("agent", "random", ["c3", "b2", "d4", "pass", "pass"], WHITE)
    moves = agent_moves([game], "agent")
    assert [mv.point for mv in moves] == [12, 18, 25]
    agent = StudyAgent("x", "agent", Path("x.pt"), 0, SearchConfig(), None, _MoverWins())  # type: ignore[arg-type]
    check = value_check(agent, moves)
    assert check.brier.value == pytest.approx(1.0) and check.brier.n == 3
    assert check.reply_brier is not None
    assert check.reply_brier.value == pytest.approx(0.0) and check.reply_brier.n == 2
    assert check.reply_overrating_by_opponent["random"].value == pytest.approx(0.0)
    assert check.net_overrating_by_opponent["random"].value == pytest.approx(1.0)
    assert check.reply_curve[0].count == 2  # both at predicted 0


def test_a_value_head_wrong_only_after_its_moves_is_a_supported_claim() -> None:
    from crowdzero.analysis.study.measure import claims
    from crowdzero.analysis.study.results import AgentInfo, StudyMeta, StudyResults, ValueCheck

    good = m.Estimate(0.05, 0.03, 0.07, 400, 40)
    bad = m.Estimate(0.40, 0.35, 0.45, 400, 40)
    check = ValueCheck((), good, {}, {}, {}, (), good, {}, (), bad, {})
    measured = StudyResults(
        meta=StudyMeta("", None, "", {}, {}, 5, 0, 0, 0),
        agents={"crowd": AgentInfo("crowd", "crowd-agent@1", "c.pt", 1, "run", 4, "gumbel", "")},
        imitation_training=None,
        members=(),
        held_out=(),
        imitation_top1={},
        imitation_search_top1={},
        imitation_log_likelihood={},
        exploitation={},
        transfer={},
        out_of_box={},
        flaws={},
        values={"crowd": check},
    )
    found = [c for c in claims(measured) if "where the opponent is to move" in c.text]
    assert [c.verdict for c in found] == ["supported"]
