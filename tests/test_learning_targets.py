"""What the learner is trained on: every position of a game, a policy target only on the
agent's searched moves, a window that slides, targets that move with the board."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Rules
from crowdzero.net.model import NetConfig, PolicyValueNet
from crowdzero.net.symmetry import transform_planes, transform_points, transform_policy
from crowdzero.play.record import Game, Move
from crowdzero.train.learner import Learner
from crowdzero.train.replay import ReplayWindow, WindowRule, _augment

SIZE = 5
N = SIZE * SIZE
ONE_HOT = tuple(1.0 if i == 12 else 0.0 for i in range(N + 1))


def _crowd_game(points: list[int], agent: int = BLACK, resign: bool = False) -> Game:
    """The agent (with targets on its moves) against a member (none), black first."""
    moves = []
    for i, p in enumerate(points):
        colour = BLACK if i % 2 == 0 else WHITE
        mine = colour == agent
        moves.append(Move(colour, p, ONE_HOT if mine else None, 0.1 if mine else None, "x"))
    if resign:
        colour = BLACK if len(points) % 2 == 0 else WHITE
        moves.append(Move(colour, RESIGN, None, None, "x"))
    last = moves[-1].colour
    winner = -last if resign else BLACK
    names = ("agent", "member") if agent == BLACK else ("member", "agent")
    return Game(Rules(SIZE), *names, tuple(moves), "?", winner, "2026-12-02", agent_colour=agent)


def test_every_position_is_a_row_and_only_agent_moves_carry_a_policy_weight() -> None:
    window = ReplayWindow(SIZE, 1, 100)
    game = _crowd_game([0, 1, 2, 3, 4, 24])
    assert window.add_game(game, 1) == 6
    assert window._policy_weight[:6].tolist() == [1, 0, 1, 0, 1, 0]
    # Outcome from the mover's view: black won, so black's rows +1 and white's -1.
    assert window._value[:6].tolist() == [1, -1, 1, -1, 1, -1]
    # The opponent's reply is the next move; the last move has none.
    assert window._reply[:6].tolist() == [1, 2, 3, 4, 24, -1]


def test_the_policy_only_window_keeps_just_the_targets() -> None:
    window = ReplayWindow(SIZE, 1, 100, rows="policy")
    assert window.add_game(_crowd_game([0, 1, 2, 3]), 1) == 2


def test_a_game_between_others_adds_nothing() -> None:
    game = _crowd_game([0, 1, 2])
    moves = tuple(Move(m.colour, m.point, None, None, m.player) for m in game.moves)
    other = Game(Rules(SIZE), "a", "b", moves, "?", BLACK, "2026-12-02", agent_colour=0)
    assert ReplayWindow(SIZE, 1, 100).add_game(other, 1) == 0


def test_a_resigned_game_has_no_ownership_or_score_target() -> None:
    window = ReplayWindow(SIZE, 1, 100)
    window.add_game(_crowd_game([0, 1, 2], resign=True), 1)
    window.add_game(_crowd_game([0, 1, 2, 3]), 2)
    assert window._final_weight[:4].tolist() == [0, 0, 0, 0]
    assert window._final_weight[4:8].tolist() == [1, 1, 1, 1]
    # Score from the mover's view: black's rows and white's rows are opposite.
    assert window._score[4] == -window._score[5] != 0


def test_the_window_grows_slower_than_the_data_and_samples_only_the_newest_rows() -> None:
    rule = WindowRule(min_rows=20, exponent=0.75, growth=0.4)
    assert rule.size(10) == 10 and rule.size(20) == 20
    assert 20 < rule.size(200) < 100 and rule.size(2000) < 500
    window = ReplayWindow(SIZE, 1, 10_000, rule=rule)
    for game_id in range(1, 41):
        window.add_game(_crowd_game([0, 1, 2, 3, 4]), game_id)  # 5 rows each
    assert window.positions_added == 200
    size = window.window
    assert size == rule.size(200)
    batch = window.sample(4000, np.random.default_rng(0))
    assert batch.age is not None and batch.age.max() < size
    newest_games = set(range(40 - size // 5, 41))
    index = (window._next - 1 - batch.age) % window.capacity
    assert set(window._game_ids[index].tolist()) <= newest_games


def test_augmentation_moves_every_target_with_the_board() -> None:
    rng = np.random.default_rng(1)
    rows = 64
    features = rng.random((rows, 3, SIZE, SIZE)).astype(np.float32)
    policy = rng.random((rows, N + 1)).astype(np.float32)
    ownership = rng.random((rows, N)).astype(np.float32)
    opponent = rng.random((rows, N + 1)).astype(np.float32)
    out = _augment(features, policy, ownership, opponent, np.random.default_rng(2))
    used = set()
    for r in range(rows):
        s = next(s for s in range(8) if np.array_equal(transform_planes(features[r], s), out[0][r]))
        used.add(s)
        assert np.array_equal(out[1][r], transform_policy(policy[r], s))
        assert np.array_equal(out[2][r], transform_points(ownership[r], s))
        assert np.array_equal(out[3][r], transform_policy(opponent[r], s))
    assert len(used) == 8


def _tiny_learner(**kwargs: float) -> Learner:
    torch.manual_seed(0)
    net = PolicyValueNet(NetConfig(board_size=SIZE, history=1, blocks=1, channels=8))
    return Learner(net, learning_rate=1e-3, **kwargs)  # type: ignore[arg-type]


def test_rows_without_a_policy_weight_do_not_train_the_policy() -> None:
    window = ReplayWindow(SIZE, 1, 100)
    window.add_game(_crowd_game([0, 1, 2, 3, 4, 24]), 1)
    batch = window.sample(32, np.random.default_rng(0), augment=False)
    garbage = batch.policy.copy()
    unweighted = batch.policy_weight == 0
    garbage[unweighted] = np.random.default_rng(1).random((int(unweighted.sum()), N + 1))
    a = _tiny_learner().train_step(batch)
    b = _tiny_learner().train_step(
        type(batch)(**{**batch.__dict__, "policy": garbage.astype(np.float32)})
    )
    assert a.policy == pytest.approx(b.policy)
    assert 0 < a.policy_rows < 1


def test_weight_decay_skips_biases_and_batch_norm() -> None:
    learner = _tiny_learner(weight_decay=0.05)
    decayed, plain = learner.optimizer.param_groups
    assert decayed["weight_decay"] == 0.05 and plain["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decayed["params"])
    assert all(p.ndim == 1 for p in plain["params"])


def test_learning_rate_warms_up_then_decays() -> None:
    learner = _tiny_learner(lr_warmup_steps=10, lr_decay_steps=100)
    rates = [learner.learning_rate_at(s) for s in (0, 9, 100, 300)]
    assert rates[0] == pytest.approx(1e-4)
    assert rates[1] == pytest.approx(1e-3 / np.sqrt(1.09))
    assert rates[2] == pytest.approx(1e-3 / np.sqrt(2))
    assert rates[3] == pytest.approx(5e-4)
