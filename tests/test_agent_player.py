"""AgentPlayer: the batched search behind the Player interface."""

from __future__ import annotations

import numpy as np
import pytest

from crowdzero.go.position import Position, Rules
from crowdzero.players.agent import AgentPlayer
from crowdzero.players.base import MoveChoice, MoveRequest, Player
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import AreaScoreEvaluator

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


def agent(algorithm: str = "gumbel", simulations: int = 8, **kwargs: object) -> AgentPlayer:
    config = SearchConfig(algorithm=algorithm, simulations=simulations)  # type: ignore[arg-type]
    return AgentPlayer(RecordingEvaluator(), config, rng=np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]


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
