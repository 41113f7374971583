"""The random crowd members: always legal, exact distributions, the eye guard."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go import _kernels
from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest
from crowdzero.players.random import RandomNoEyePlayer, RandomPlayer, own_eye_mask


def eye_position() -> Position:
    """5x5, black to play: A1 is a black eye (B1, A2 black; B2 black diagonal)."""
    points = [gtp_to_point(v, 5) for v in ("b1", "a2", "b2")]
    return Position.from_stones(Rules(size=5), black=points, white=[gtp_to_point("e5", 5)])


def random_position(seed: int, size: int) -> Position:
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=size))
    for _ in range(int(rng.integers(0, 2 * size * size))):
        legal = np.flatnonzero(position.legal_mask()[: size * size])
        if len(legal) == 0 or position.is_over:
            break
        position.play(int(rng.choice(legal)))
    return position


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.sampled_from([5, 7, 9]))
def test_random_players_choose_legal_moves_from_their_distribution(seed: int, size: int) -> None:
    position = random_position(seed, size)
    if position.is_over:
        return
    for player in (RandomPlayer(seed=seed), RandomNoEyePlayer(seed=seed)):
        distribution = player.move_distribution(position)
        assert distribution.shape == (size * size + 1,)
        assert distribution.sum() == pytest.approx(1.0)
        assert not (distribution > 0)[~position.legal_mask()].any()
        point = player.select_move(MoveRequest("g", position)).point
        assert position.is_legal(point) and distribution[point] > 0


def test_random_player_passes_only_when_no_stone_move_is_legal() -> None:
    position = Position(Rules(size=5))
    distribution = RandomPlayer(seed=0).move_distribution(position)
    assert distribution[25] == 0 and np.allclose(distribution[:25], 1 / 25)
    # black everywhere but two eyes (A1, C3): both are suicide for white, who must pass
    black = [p for p in range(25) if p not in (0, 12)]
    full = Position.from_stones(Rules(size=5), black=black, to_play=WHITE)
    assert RandomPlayer(seed=0).select_move(MoveRequest("g", full)).point == 25
    assert RandomPlayer(seed=0).move_distribution(full)[25] == 1.0


def test_noeye_player_never_fills_its_own_eye_but_random_may() -> None:
    position = eye_position()
    a1 = gtp_to_point("a1", 5)
    assert own_eye_mask(position)[a1]
    assert RandomPlayer(seed=0).move_distribution(position)[a1] > 0
    assert RandomNoEyePlayer(seed=0).move_distribution(position)[a1] == 0
    player = RandomNoEyePlayer(seed=1)
    assert all(player.select_move(MoveRequest("g", position)).point != a1 for _ in range(200))


def test_an_enemy_diagonal_on_the_edge_spoils_the_eye() -> None:
    points = [gtp_to_point(v, 5) for v in ("b1", "a2")]
    position = Position.from_stones(
        Rules(size=5), black=points, white=[gtp_to_point("b2", 5)], to_play=BLACK
    )
    assert not own_eye_mask(position)[gtp_to_point("a1", 5)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.sampled_from([5, 7, 9, 13]))
def test_eye_mask_matches_the_playout_kernel(seed: int, size: int) -> None:
    position = random_position(seed, size)
    tables = _kernels.tables(size)
    for colour in (BLACK, WHITE):
        mask = own_eye_mask(position, colour)
        for p in np.flatnonzero(position.board == 0):
            expected = _kernels._is_own_eye(position.board, p, colour, tables.nbr, tables.diag)
            assert mask[p] == expected


def test_same_seed_same_moves() -> None:
    position = random_position(3, 9)
    a, b = RandomNoEyePlayer(seed=42), RandomNoEyePlayer(seed=42)
    assert [a.select_move(MoveRequest("g", position)).point for _ in range(20)] == [
        b.select_move(MoveRequest("g", position)).point for _ in range(20)
    ]


def test_random_player_reaches_every_legal_point() -> None:
    position = Position(Rules(size=5))
    player = RandomPlayer(seed=0)
    seen = {player.select_move(MoveRequest("g", position)).point for _ in range(600)}
    assert seen == set(range(25))
