"""The batched tree search: tactics, targets, terminal positions, reuse and batching.

The evaluators are the cheap ones from `crowdzero.search.evaluator`: uniform priors, and a
value that is either 0 or the current area score, so every move the search finds here it
found by searching. The tactical positions were checked by a depth-3 minimax over the same
area-score value: exactly one move wins, every other move loses.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest
from crowdzero.search.config import SearchConfig, SearchConfigError
from crowdzero.search.evaluator import AreaScoreEvaluator, UniformEvaluator
from crowdzero.search.searcher import BatchedSearcher, SearchError
from crowdzero.search.tree import (
    DESCENT_RECORD,
    EXPANDED,
    PUCT,
    TERMINAL,
    DescentParams,
    SearchTree,
)

ALGORITHMS = ("puct", "gumbel")
RULES_5 = Rules(5, komi=0.5)


def points(text: str, size: int = 5) -> list[int]:
    return [gtp_to_point(name, size) for name in text.split()]


def setup(black: str, white: str, to_play: int = BLACK, rules: Rules = RULES_5) -> Position:
    return Position.from_stones(
        rules, black=points(black, rules.size), white=points(white, rules.size), to_play=to_play
    )


def searcher(
    algorithm: str, simulations: int = 64, seed: int = 0, **kwargs: object
) -> BatchedSearcher:
    config = SearchConfig(algorithm=algorithm, simulations=simulations, **kwargs)  # type: ignore[arg-type]
    return BatchedSearcher(AreaScoreEvaluator(komi=0.5), config, np.random.default_rng(seed))


def random_position(seed: int, moves: int, size: int = 5) -> Position:
    """A position reached by random legal stone moves (passes only when nothing else)."""
    rng = np.random.default_rng(seed)
    position = Position(Rules(size, komi=0.5))
    for _ in range(moves):
        legal = np.flatnonzero(position.legal_mask()[:-1])
        if legal.size == 0:
            break
        position.play(int(rng.choice(legal)))
    return position


class CountingEvaluator:
    """Wraps an evaluator and records the batch size of every call."""

    def __init__(self, inner: UniformEvaluator | AreaScoreEvaluator) -> None:
        self.inner = inner
        self.feature_spec = inner.feature_spec
        self.batches: list[int] = []

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(features.shape[0])
        return self.inner.evaluate(features)


# A capturing race: black E5 (liberty E4) and white D5 (liberty C5) are both in atari;
# black to play wins the race by capturing at C5.
#    A B C D E
#  5 X . . O X
#  4 . . O X .
#  3 O O X X O
#  2 O X O O .
#  1 . X . X .
RACE = ("B1 D1 B2 C3 D3 D4 A5 E5", "A2 C2 D2 A3 B3 E3 C4 D5", "C5")

# Save a group in atari: the five black stones D1 E1 E2 E3 D3 have one liberty, C3;
# connecting there saves them, anything else lets white capture.
#    A B C D E
#  5 O . O O .
#  4 . X X O O
#  3 O X . X X
#  2 X X O O X
#  1 . O O X X
SAVE_CONNECT = ("D1 E1 A2 B2 E2 B3 D3 E3 B4 C4", "B1 C1 C2 D2 A3 D4 E4 A5 C5 D5", "C3")

# Save a group in atari: black C3 is cut off with one liberty, B3.
#    A B C D E
#  5 X X O . O
#  4 X X O O .
#  3 X . X . O
#  2 X O . X O
#  1 O O O X X
SAVE_EXTEND = ("D1 E1 A2 D2 A3 C3 A4 B4 A5 B5", "A1 B1 C1 B2 E2 E3 C4 D4 C5 E5", "B3")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_search_captures_to_win_a_capturing_race(algorithm: str) -> None:
    black, white, answer = RACE
    result = searcher(algorithm).search([MoveRequest("g", setup(black, white))], add_noise=False)[0]
    assert result.point == gtp_to_point(answer, 5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("case", [SAVE_CONNECT, SAVE_EXTEND], ids=["connect", "extend"])
def test_search_saves_a_group_in_atari(algorithm: str, case: tuple[str, str, str]) -> None:
    black, white, answer = case
    result = searcher(algorithm).search([MoveRequest("g", setup(black, white))], add_noise=False)[0]
    assert result.point == gtp_to_point(answer, 5)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_search_with_noise_still_finds_the_capture(algorithm: str) -> None:
    black, white, answer = RACE
    found = [
        searcher(algorithm, seed=seed, temperature_moves=0)
        .search([MoveRequest("g", setup(black, white))], add_noise=True)[0]
        .point
        for seed in range(5)
    ]
    assert found.count(gtp_to_point(answer, 5)) >= 4


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    moves=st.integers(0, 20),
    algorithm=st.sampled_from(ALGORITHMS),
    simulations=st.integers(1, 24),
    leaves=st.integers(1, 3),
    noise=st.booleans(),
)
def test_policy_target_sums_to_one_over_legal_moves_and_is_zero_on_illegal(
    seed: int, moves: int, algorithm: str, simulations: int, leaves: int, noise: bool
) -> None:
    position = random_position(seed, moves)
    search = searcher(algorithm, simulations, seed=seed, leaves_per_game=leaves)
    result = search.search([MoveRequest("g", position)], add_noise=noise)[0]
    legal = position.legal_mask()
    assert result.policy.dtype == np.float32 and result.policy.shape == (26,)
    assert result.policy.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(result.policy[~legal] == 0.0)
    assert np.all(result.visits[~legal] == 0.0)
    assert legal[result.point]
    assert result.simulations == simulations
    assert result.visits.sum() == simulations
    assert -1.0 <= result.root_value <= 1.0


def assert_tree_is_consistent(tree: SearchTree) -> None:
    """N(s) = 1 + sum_a N(s, a), and each edge agrees with the child it leads to
    (same visits, W(s, a) = -W(child)); no virtual loss left behind."""
    for node in range(len(tree)):
        if tree.state(node) != EXPANDED:
            continue
        visits = tree.children_visits[node]
        value_sums = tree.children_value_sums[node]
        assert tree.node_visits[node] == pytest.approx(1.0 + visits.sum())
        for action in np.flatnonzero(tree.children_index[node] >= 0):
            child = tree.children_index[node, action]
            assert visits[action] == tree.node_visits[child]
            assert value_sums[action] == pytest.approx(-tree.node_value_sums[child])
        assert np.all(np.abs(value_sums) <= visits + 1e-9)


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    algorithm=st.sampled_from(ALGORITHMS),
    leaves=st.integers(1, 4),
)
def test_backup_keeps_the_tree_consistent_with_and_without_virtual_loss(
    seed: int, algorithm: str, leaves: int
) -> None:
    search = searcher(algorithm, 32, seed=seed, leaves_per_game=leaves)
    search.search([MoveRequest("g", random_position(seed, 8))])
    tree = search.kept_tree("g")
    assert tree is not None
    assert_tree_is_consistent(tree)


def test_root_value_is_from_the_side_to_move_view() -> None:
    # Black owns most of the board.
    black, white = "A3 B3 C3 D3 E3 C2", "A4 B4"
    for algorithm in ALGORITHMS:
        as_black = searcher(algorithm, 16).search([MoveRequest("b", setup(black, white, BLACK))])
        as_white = searcher(algorithm, 16).search([MoveRequest("w", setup(black, white, WHITE))])
        assert as_black[0].root_value > 0.5
        assert as_white[0].root_value < -0.5


def uniform_searcher(algorithm: str, simulations: int = 64) -> BatchedSearcher:
    """Value 0 for every unfinished position: only finished games carry information.
    (All 26 actions considered by Gumbel: flat priors tie, and ties go to low indices.)"""
    config = SearchConfig(algorithm=algorithm, simulations=simulations, gumbel_considered=26)  # type: ignore[arg-type]
    return BatchedSearcher(UniformEvaluator(), config, np.random.default_rng(0))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_passing_after_a_pass_ends_the_game_and_is_valued_exactly(algorithm: str) -> None:
    # Black is ahead (area 10 to 2) and white has just passed: black's pass ends the
    # game, a sure win, while every other move is worth 0 to this evaluator.
    position = setup("A3 B3 C3 D3 E3 C2", "A4 B4", to_play=WHITE)
    position.play(25)
    search = uniform_searcher(algorithm)
    result = search.search([MoveRequest("g", position)], add_noise=False)[0]
    tree = search.kept_tree("g")
    assert tree is not None
    child = tree.children_index[0, 25]
    assert tree.state(child) == TERMINAL
    assert tree.value(child) == -1.0  # white to move there, and white has lost
    assert tree.root_value_sums[25] == tree.root_visits[25]  # Q(root, pass) = +1 exactly
    assert result.point == 25
    assert result.root_value > 0.0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_losing_side_does_not_end_the_game_by_passing(algorithm: str) -> None:
    position = setup("A3 B3 C3 D3 E3 C2", "A4 B4", to_play=BLACK)
    position.play(25)  # black passes; white is behind
    search = uniform_searcher(algorithm)
    result = search.search([MoveRequest("g", position)], add_noise=False)[0]
    tree = search.kept_tree("g")
    assert tree is not None
    child = tree.children_index[0, 25]
    assert tree.state(child) == TERMINAL and tree.value(child) == 1.0
    assert tree.root_value_sums[25] == -tree.root_visits[25]  # Q(root, pass) = -1 exactly
    assert result.point != 25


def test_searching_a_finished_game_raises() -> None:
    position = Position(RULES_5)
    position.play(25)
    position.play(25)
    with pytest.raises(SearchError, match="over"):
        searcher("puct").search([MoveRequest("g", position)])


def test_asking_for_the_same_game_twice_in_one_search_raises() -> None:
    position = Position(RULES_5)
    with pytest.raises(SearchError, match="twice"):
        searcher("puct").search([MoveRequest("g", position), MoveRequest("g", position)])


def test_an_empty_request_list_searches_nothing() -> None:
    assert searcher("gumbel").search([]) == []


def test_a_bad_config_is_refused_with_a_reason() -> None:
    with pytest.raises(SearchConfigError, match="algorithm"):
        SearchConfig(algorithm="alphabeta")  # type: ignore[arg-type]
    with pytest.raises(SearchConfigError, match="simulations"):
        SearchConfig(simulations=0)


def test_the_descent_reads_its_settings_by_name_from_one_record() -> None:
    config = SearchConfig(algorithm="puct", c_puct_init=2.0, leaves_per_game=4, virtual_loss=0.5)
    params = DescentParams.from_config(config)
    record = params.record[0]
    assert {name: record[name] for name in DESCENT_RECORD.names} == dataclasses.asdict(params)
    assert (params.algorithm, params.c_puct_init, params.virtual_loss) == (PUCT, 2.0, 0.5)


def test_one_leaf_per_game_descends_without_a_virtual_loss() -> None:
    """With one leaf per game and round no other descent is pending to be steered away."""
    assert DescentParams.from_config(SearchConfig(virtual_loss=0.5)).virtual_loss == 0.0


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_subtree_reuse_keeps_the_visits_of_the_chosen_child(algorithm: str) -> None:
    simulations = 48
    search = searcher(algorithm, simulations)
    position = random_position(3, 6)
    first = search.search([MoveRequest("g", position)], add_noise=False)[0]
    tree = search.kept_tree("g")
    assert tree is not None
    mine = int(tree.children_index[0, first.point])
    reply = int(np.argmax(tree.children_visits[mine]))  # the opponent's most visited answer
    kept = int(tree.children_index[mine, reply])
    assert tree.state(kept) == EXPANDED
    carried = tree.visit_count(kept) - 1  # visits below it, without its own evaluation
    assert carried > 0
    position.play(first.point)
    position.play(reply)
    second = search.search([MoveRequest("g", position)], add_noise=False)[0]
    assert second.simulations == simulations
    assert second.visits.sum() == carried + simulations
    tree = search.kept_tree("g")
    assert tree is not None
    assert np.array_equal(tree.root.board, position.board)
    assert_tree_is_consistent(tree)


def test_reuse_is_skipped_when_the_game_went_elsewhere() -> None:
    search = searcher("puct", 16)
    search.search([MoveRequest("g", random_position(1, 4))])
    other = random_position(2, 6)
    assert search.search([MoveRequest("g", other)])[0].visits.sum() == 16


def test_reuse_can_be_switched_off() -> None:
    search = searcher("puct", 16, reuse_tree=False)
    position = random_position(1, 4)
    result = search.search([MoveRequest("g", position)], add_noise=False)[0]
    assert search.kept_tree("g") is None
    position.play(result.point)
    position.play(25)
    assert search.search([MoveRequest("g", position)])[0].visits.sum() == 16


def test_forget_drops_a_games_tree() -> None:
    search = searcher("gumbel", 8)
    search.search(
        [MoveRequest("a", random_position(1, 3)), MoveRequest("b", random_position(2, 3))]
    )
    search.forget("a")
    assert search.kept_games == ["b"]
    search.forget("never-seen")  # forgetting an unknown game is harmless


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_each_game_in_a_batch_gets_the_result_it_would_get_alone(algorithm: str) -> None:
    positions = [random_position(seed, 4 + seed) for seed in range(4)]
    together = searcher(algorithm, 24, leaves_per_game=2).search(
        [MoveRequest(f"g{i}", p) for i, p in enumerate(positions)], add_noise=False
    )
    for i, position in enumerate(positions):
        alone = searcher(algorithm, 24, leaves_per_game=2).search(
            [MoveRequest("solo", position)], add_noise=False
        )[0]
        assert alone.point == together[i].point
        np.testing.assert_array_equal(alone.visits, together[i].visits)
        np.testing.assert_allclose(alone.policy, together[i].policy, rtol=1e-6)
        assert alone.root_value == pytest.approx(together[i].root_value)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_evaluator_sees_every_games_leaf_in_one_call_per_round(algorithm: str) -> None:
    games, simulations = 5, 12
    evaluator = CountingEvaluator(UniformEvaluator())
    config = SearchConfig(algorithm=algorithm, simulations=simulations)  # type: ignore[arg-type]
    search = BatchedSearcher(evaluator, config, np.random.default_rng(0))
    requests = [MoveRequest(f"g{i}", Position(Rules(9))) for i in range(games)]
    search.search(requests)
    # One call for the roots, then one per simulation round, each with every game.
    assert evaluator.batches == [games] * (simulations + 1)
    assert search.simulations_done == games * simulations
    assert search.positions_evaluated == games * (simulations + 1)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_several_leaves_per_game_make_bigger_batches_for_the_same_budget(algorithm: str) -> None:
    games, simulations = 3, 12
    evaluator = CountingEvaluator(UniformEvaluator())
    config = SearchConfig(algorithm=algorithm, simulations=simulations, leaves_per_game=4)  # type: ignore[arg-type]
    search = BatchedSearcher(evaluator, config, np.random.default_rng(0))
    results = search.search([MoveRequest(f"g{i}", Position(Rules(9))) for i in range(games)])
    assert evaluator.batches[0] == games
    assert sum(evaluator.batches[1:]) == games * simulations
    assert max(evaluator.batches[1:]) == 4 * games
    assert len(evaluator.batches) < simulations + 1
    assert all(r.simulations == simulations for r in results)


def test_the_evaluator_answering_with_wrong_shapes_is_reported() -> None:
    class Broken(UniformEvaluator):
        def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            logits, values = super().evaluate(features)
            return logits[:, :-1], values

    search = BatchedSearcher(Broken(), SearchConfig(simulations=4))
    with pytest.raises(SearchError, match="expected"):
        search.search([MoveRequest("g", Position(RULES_5))])


def test_puct_temperature_samples_early_moves_and_plays_the_most_visited_later() -> None:
    # With noise on and temperature for the first 30 moves, seeds disagree on the opening.
    opening = {
        searcher("puct", 16, seed=seed, temperature_moves=30)
        .search([MoveRequest("g", Position(RULES_5))])[0]
        .point
        for seed in range(8)
    }
    assert len(opening) > 1
    # After the temperature moves the most visited move is played.
    position = random_position(4, 6)
    result = searcher("puct", 32, temperature_moves=2).search([MoveRequest("g", position)])[0]
    assert result.visits[result.point] == result.visits.max()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_overlapping_evaluation_with_tree_work_changes_batches_not_results(algorithm: str) -> None:
    positions = [random_position(seed, 3 + seed) for seed in range(6)]
    requests = [MoveRequest(f"g{i}", p) for i, p in enumerate(positions)]
    results = {}
    batches = {}
    for overlap in (False, True):
        evaluator = CountingEvaluator(AreaScoreEvaluator(komi=0.5))
        config = SearchConfig(algorithm=algorithm, simulations=16, overlap_evaluation=overlap)  # type: ignore[arg-type]
        search = BatchedSearcher(evaluator, config, np.random.default_rng(0))
        results[overlap] = search.search(requests, add_noise=False)
        search.close()
        batches[overlap] = evaluator.batches
    for plain, overlapped in zip(results[False], results[True], strict=True):
        assert plain.point == overlapped.point
        np.testing.assert_array_equal(plain.visits, overlapped.visits)
        np.testing.assert_array_equal(plain.policy, overlapped.policy)
    assert batches[False][1:] == [6] * 16
    assert batches[True][1:] == [3] * 32  # two halves take turns


# ---------------------------------------------------------------- per-request budgets


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("overlap", [False, True])
def test_cheap_searches_spend_cheap_simulations_and_leave_the_batch_early(
    algorithm: str, overlap: bool
) -> None:
    evaluator = CountingEvaluator(UniformEvaluator())
    config = SearchConfig(
        algorithm=algorithm,  # type: ignore[arg-type]
        simulations=12,
        cheap_simulations=3,
        overlap_evaluation=overlap,
    )
    search = BatchedSearcher(evaluator, config, np.random.default_rng(0))
    requests = [MoveRequest(f"g{i}", Position(Rules(9))) for i in range(4)]
    cheap = [True, False, True, False]
    results = search.search(requests, cheap=cheap)
    search.close()
    assert [r.simulations for r in results] == [3, 12, 3, 12]
    assert [r.cheap for r in results] == cheap
    assert [int(r.visits.sum()) for r in results] == [3, 12, 3, 12]
    # The roots, then every leaf once: 4 + 2 * 3 + 2 * 12.
    assert sum(evaluator.batches) == search.positions_evaluated == 4 + 30
    if not overlap:
        # Every game in the first three rounds, then the two full searches alone.
        assert evaluator.batches == [4] + [4] * 3 + [2] * 9


def test_cheap_simulations_are_capped_at_the_full_budget() -> None:
    config = SearchConfig(simulations=4, cheap_simulations=16)
    assert config.cheap_budget == 4
    result = BatchedSearcher(UniformEvaluator(), config).search(
        [MoveRequest("g", Position(RULES_5))], cheap=[True]
    )[0]
    assert result.simulations == 4


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_cheap_search_is_noise_free_and_greedy_after_the_opening(algorithm: str) -> None:
    position = random_position(2, 4)  # past temperature_moves = 2
    exact = searcher(algorithm, 6).search([MoveRequest("g", position)], add_noise=False)[0]
    for seed in range(4):
        search = searcher(algorithm, 16, seed=seed, cheap_simulations=6, temperature_moves=2)
        result = search.search([MoveRequest("g", position)], cheap=[True])[0]
        assert result.point == exact.point
        np.testing.assert_array_equal(result.visits, exact.visits)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_a_cheap_search_samples_the_opening_moves_of_a_training_game(algorithm: str) -> None:
    # As KataGo: no root noise in the search, but early moves are still chosen with a
    # temperature, else every game would open (and, untrained, often pass) alike.
    position = random_position(2, 4)
    exact = searcher(algorithm, 12).search([MoveRequest("g", position)], add_noise=False)[0]
    assert np.count_nonzero(exact.visits) > 1
    points = set()
    for seed in range(12):
        search = searcher(algorithm, 16, seed=seed, cheap_simulations=12, temperature_moves=30)
        result = search.search([MoveRequest("g", position)], cheap=[True])[0]
        np.testing.assert_array_equal(result.visits, exact.visits)
        points.add(result.point)
    assert len(points) > 1


def test_cheap_flags_must_match_the_requests() -> None:
    with pytest.raises(SearchError, match="cheap flags"):
        searcher("gumbel").search([MoveRequest("g", Position(RULES_5))], cheap=[True, False])


@pytest.mark.parametrize(
    ("setting", "value", "message"),
    [
        ("full_search_fraction", 0.0, "full_search_fraction"),
        ("full_search_fraction", 1.5, "full_search_fraction"),
        ("cheap_simulations", 0, "cheap_simulations"),
        ("resign_threshold", -1.5, "resign_threshold"),
        ("resign_threshold", 2.0, "resign_threshold"),
        ("resign_consecutive", 0, "resign_consecutive"),
    ],
)
def test_bad_playout_cap_and_resignation_settings_are_refused(
    setting: str, value: float, message: str
) -> None:
    with pytest.raises(SearchConfigError, match=message):
        SearchConfig(**{setting: value})  # type: ignore[arg-type]
