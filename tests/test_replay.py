"""The replay window: what enters it, and what a bad stored game does to it."""

from __future__ import annotations

import numpy as np
import pytest

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.position import Rules
from crowdzero.play.record import Game, Move
from crowdzero.train.replay import ReplayWindow, UnplayableGame

SIZE = 5
UNIFORM = tuple([1.0 / (SIZE * SIZE + 1)] * (SIZE * SIZE + 1))


def _game(points: list[int], policy: tuple[float, ...] = UNIFORM) -> Game:
    colours = [BLACK if i % 2 == 0 else WHITE for i in range(len(points))]
    moves = tuple(Move(c, p, policy=policy) for c, p in zip(colours, points, strict=True))
    return Game(Rules(SIZE), "a", "a", moves, "B+R", BLACK, "2026-11-28", agent_colour=0)


def test_every_searched_position_of_a_good_game_enters() -> None:
    window = ReplayWindow(SIZE, history=1, capacity=100)
    assert window.add_game(_game([0, 1, 2, 25, 25]), game_id=7) == 5
    assert len(window) == 5 and window.game_ids().tolist() == [7]
    assert window.last_game_id == 7


@pytest.mark.parametrize(
    ("points", "policy", "message"),
    [
        ([0, 0], UNIFORM, "move 2: A1 is occupied"),
        ([0, 1, 99], UNIFORM, "move 3"),
        ([0, 1], UNIFORM[:-1], "move 1: a search target of 25 entries, expected 26"),
    ],
)
def test_a_game_that_does_not_replay_leaves_the_window_as_it_was(
    points: list[int], policy: tuple[float, ...], message: str
) -> None:
    window = ReplayWindow(SIZE, history=1, capacity=100)
    window.add_game(_game([12, 13]), game_id=1)
    before = window.sample(4, np.random.default_rng(0), augment=False)
    with pytest.raises(UnplayableGame, match=message):
        window.add_game(_game(points, policy), game_id=2)
    assert len(window) == 2 and window.game_ids().tolist() == [1]
    after = window.sample(4, np.random.default_rng(0), augment=False)
    assert np.array_equal(before.features, after.features)
    # Skipped, not retried: the next look at the store starts after it.
    assert window.last_game_id == 2
