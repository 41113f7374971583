"""AgentPlayer: the batched search behind the Player interface."""

from __future__ import annotations

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.players.agent import AgentPlayer
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import AreaScoreEvaluator, Evaluator, UniformEvaluator
from crowdzero.search.searcher import BatchedSearcher

RULES = Rules(5, komi=0.5)


class RecordingEvaluator(AreaScoreEvaluator):
    """Area-score values and fixed, distinct logits (pass least likely, so no search
    line ends the game by passing twice); records every batch size."""

    def __init__(self) -> None:
        super().__init__(komi=0.5)
        self.batches: list[int] = []
        self.logits = np.linspace(1.0, -1.0, 26, dtype=np.float32)

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(features.shape[0])
        _, value = super().evaluate(features)
        return np.tile(self.logits, (features.shape[0], 1)), value


def agent(
    algorithm: str = "gumbel",
    simulations: int = 8,
    search: dict[str, object] | None = None,
    evaluator: Evaluator | None = None,
    **kwargs: object,
) -> AgentPlayer:
    """An agent whose every move is a full search unless ``search`` says otherwise."""
    settings: dict[str, object] = {"full_search_fraction": 1.0, **(search or {})}
    config = SearchConfig(algorithm=algorithm, simulations=simulations, **settings)  # type: ignore[arg-type]
    return AgentPlayer(
        evaluator if evaluator is not None else RecordingEvaluator(),
        config,
        rng=np.random.default_rng(0),
        **kwargs,  # type: ignore[arg-type]
    )


def test_agent_is_a_player_named_agent_unless_told_otherwise() -> None:
    assert isinstance(agent(), Player)
    assert agent().name == "agent"
    assert agent(name="agent-gen3").name == "agent-gen3"


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_select_moves_answers_every_game_in_one_batched_search(algorithm: str) -> None:
    player = agent(algorithm, simulations=6)
    positions = [Position(RULES) for _ in range(3)]
    positions[1].play(12)
    positions[2].play(0)
    positions[2].play(24)
    choices = player.select_moves([MoveRequest(f"g{i}", p) for i, p in enumerate(positions)])
    assert len(choices) == 3
    for choice, position in zip(choices, positions, strict=True):
        assert isinstance(choice, MoveChoice)
        assert position.is_legal(choice.point)
        assert choice.policy is not None and choice.policy.sum() == pytest.approx(1.0)
        assert choice.root_value is not None and -1.0 <= choice.root_value <= 1.0
    evaluator = player.evaluator
    assert isinstance(evaluator, RecordingEvaluator)
    assert evaluator.batches == [3] * 7  # the roots, then 6 rounds with all three games


def test_select_move_is_a_batch_of_one() -> None:
    player = agent()
    choice = player.select_move(MoveRequest("g", Position(RULES)))
    assert Position(RULES).is_legal(choice.point)


def test_end_game_forgets_the_search_tree() -> None:
    player = agent()
    player.select_moves([MoveRequest("a", Position(RULES)), MoveRequest("b", Position(RULES))])
    player.end_game("a")
    assert player.searcher.kept_games == ["b"]


def test_move_distribution_is_the_raw_network_policy_over_legal_moves() -> None:
    player = agent()
    position = Position(RULES)
    position.play(12)
    distribution = player.move_distribution(position)
    assert distribution is not None and distribution.dtype == np.float32
    legal = position.legal_mask()
    logits = np.linspace(1.0, -1.0, 26)
    expected = np.where(legal, np.exp(logits), 0.0)
    np.testing.assert_allclose(distribution, expected / expected.sum(), rtol=1e-5)
    assert distribution[12] == 0.0


def test_move_distribution_of_a_finished_game_is_none() -> None:
    position = Position(RULES)
    position.play(25)
    position.play(25)
    assert agent().move_distribution(position) is None


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_two_agents_play_a_whole_game_reusing_their_trees(algorithm: str) -> None:
    black, white = agent(algorithm, 12), agent(algorithm, 12)
    position = Position(RULES)
    turns = 0
    while not position.is_over and turns < 120:
        player = black if position.to_play == 1 else white
        choice = player.select_move(MoveRequest("game", position))
        position.play(choice.point)
        turns += 1
    assert position.is_over
    assert black.searcher.kept_games == ["game"]
    black.end_game("game")
    white.end_game("game")
    assert black.searcher.kept_games == white.searcher.kept_games == []


# ---------------------------------------------------------------- playout cap randomisation


class CountingUniformEvaluator(UniformEvaluator):
    """Uniform priors and values; counts the positions it evaluates."""

    def __init__(self) -> None:
        super().__init__()
        self.positions = 0

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.positions += features.shape[0]
        return super().evaluate(features)


def fresh_requests(count: int, prefix: str = "g") -> list[MoveRequest]:
    return [MoveRequest(f"{prefix}{i}", Position(RULES)) for i in range(count)]


def test_cheap_moves_carry_a_root_value_but_no_policy_target() -> None:
    player = agent("gumbel", 8, {"full_search_fraction": 0.5, "cheap_simulations": 2})
    choices = player.select_moves(fresh_requests(40))
    cheap = sum(c.policy is None for c in choices)
    assert 0 < cheap < 40
    assert all(c.root_value is not None and -1.0 <= c.root_value <= 1.0 for c in choices)
    for choice in choices:
        assert choice.policy is None or choice.policy.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_about_full_search_fraction_of_training_moves_are_full_searches(algorithm: str) -> None:
    evaluator = CountingUniformEvaluator()
    player = agent(
        algorithm,
        6,
        {"full_search_fraction": 0.25, "cheap_simulations": 2, "reuse_tree": False},
        evaluator,
    )
    full = 0
    moves = 0
    for round_ in range(10):
        choices = player.select_moves(fresh_requests(40, f"r{round_}-"))
        full += sum(c.policy is not None for c in choices)
        moves += len(choices)
    assert 0.19 <= full / moves <= 0.31  # 400 draws of p = 0.25: sd 0.022
    # Each move evaluated its root, then 6 leaves (full) or 2 (cheap).
    assert evaluator.positions == moves + 6 * full + 2 * (moves - full)


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_noise_free_agents_always_search_in_full(algorithm: str) -> None:
    evaluator = CountingUniformEvaluator()
    player = agent(
        algorithm,
        6,
        {"full_search_fraction": 0.1, "cheap_simulations": 1},
        evaluator,
        add_noise=False,
    )
    choices = player.select_moves(fresh_requests(30))
    assert all(c.policy is not None for c in choices)
    assert evaluator.positions == 30 * (1 + 6)


def test_no_move_is_cheap_when_a_cheap_search_would_cost_as_much() -> None:
    player = agent("gumbel", 4, {"full_search_fraction": 0.25, "cheap_simulations": 4})
    assert all(c.policy is not None for c in player.select_moves(fresh_requests(20)))


@pytest.mark.parametrize("algorithm", ["puct", "gumbel"])
def test_with_every_move_full_the_agent_plays_exactly_as_its_search(algorithm: str) -> None:
    # full_search_fraction 1.0 draws no random numbers: same noise, same moves as before.
    player = agent(algorithm, 8)
    requests = fresh_requests(6)
    config = player.config
    plain = BatchedSearcher(RecordingEvaluator(), config, np.random.default_rng(0))
    for choice, result in zip(player.select_moves(requests), plain.search(requests), strict=True):
        assert choice.point == result.point
        assert choice.policy is not None
        np.testing.assert_array_equal(choice.policy, result.policy)


# ---------------------------------------------------------------- resignation


def black_is_lost() -> AreaScoreEvaluator:
    """Values near -1 for black and +1 for white everywhere (a komi of 60 on 5x5)."""
    return AreaScoreEvaluator(komi=60.0)


def resigning_agent(consecutive: int = 3) -> AgentPlayer:
    return agent(
        "gumbel",
        4,
        {"resign_threshold": -0.9, "resign_consecutive": consecutive},
        black_is_lost(),
    )


def black_moves(
    player: AgentPlayer, game_id: str, moves: int, allow_resign: bool = True
) -> list[MoveChoice]:
    """The agent's answers as black in one game; white answers each move on the first
    free point (the agent's moves are played unless it resigns)."""
    position = Position(RULES)
    choices = []
    for _ in range(moves):
        choice = player.select_move(MoveRequest(game_id, position, allow_resign=allow_resign))
        choices.append(choice)
        if choice.point == RESIGN:
            break
        position.play(choice.point)
        position.play(int(np.flatnonzero(position.legal_mask()[:-1])[0]))
    return choices


@pytest.mark.parametrize("consecutive", [1, 3, 5])
def test_the_agent_resigns_after_exactly_consecutive_low_root_values(consecutive: int) -> None:
    choices = black_moves(resigning_agent(consecutive), "g", 8)
    assert all(c.root_value is not None and c.root_value < -0.9 for c in choices)
    assert [c.point == RESIGN for c in choices] == [False] * (consecutive - 1) + [True]


def test_the_agent_never_resigns_unless_the_request_allows_it() -> None:
    choices = black_moves(resigning_agent(), "g", 8, allow_resign=False)
    assert len(choices) == 8
    assert all(c.point != RESIGN for c in choices)


def test_a_disabled_threshold_never_resigns() -> None:
    player = agent("gumbel", 4, {"resign_threshold": -1.0}, black_is_lost())
    assert all(c.point != RESIGN for c in black_moves(player, "g", 8))


def test_resignation_counts_low_values_per_game_and_forgets_them_at_the_end() -> None:
    player = resigning_agent(3)
    assert all(c.point != RESIGN for c in black_moves(player, "a", 2))
    assert all(c.point != RESIGN for c in black_moves(player, "b", 2))
    player.end_game("a")
    # "a" starts again from nothing: two more low moves are not yet three ...
    assert all(c.point != RESIGN for c in black_moves(player, "a", 2))
    # ... while "b" kept its two, so its next low move is the third.
    assert black_moves(player, "b", 1)[0].point == RESIGN


def test_in_self_play_each_seat_resigns_on_its_own_values() -> None:
    player = resigning_agent(3)
    position = Position(RULES)
    seen: dict[int, list[float]] = {BLACK: [], WHITE: []}
    while True:
        colour = position.to_play
        choice = player.select_move(MoveRequest("self", position, allow_resign=True))
        assert choice.root_value is not None
        seen[colour].append(choice.root_value)
        if choice.point == RESIGN:
            break
        position.play(choice.point)
    # White's high values between black's moves do not break black's run of low ones.
    assert colour == BLACK and len(seen[BLACK]) == 3 and len(seen[WHITE]) == 2
    assert all(v > 0.9 for v in seen[WHITE])
