"""Random play-outs: legal under the rules engine, never filling their own eyes, ending
on two passes, and scored like an independent pure-Python Tromp-Taylor count."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, EMPTY, WHITE, gtp_to_point
from crowdzero.go.playout import (
    random_playout,
    random_playout_record,
    random_playouts,
    random_playouts_with_moves,
)
from crowdzero.go.position import KoRule, Position, Rules


def neighbours(p: int, size: int) -> list[int]:
    row, col = divmod(p, size)
    steps = ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
    return [r * size + c for r, c in steps if 0 <= r < size and 0 <= c < size]


def tromp_taylor(board: list[int], size: int, komi: float) -> float:
    """Slow reference: flood every empty region and see which colours it reaches."""
    area = {BLACK: 0, WHITE: 0}
    done: set[int] = set()
    for p, v in enumerate(board):
        if v != EMPTY:
            area[v] += 1
        elif p not in done:
            region, reached, todo = {p}, set(), [p]
            while todo:
                q = todo.pop()
                for r in neighbours(q, size):
                    if board[r] == EMPTY and r not in region:
                        region.add(r)
                        todo.append(r)
                    elif board[r] != EMPTY:
                        reached.add(board[r])
            done |= region
            if len(reached) == 1:
                area[reached.pop()] += len(region)
    return area[BLACK] - area[WHITE] - komi


def is_true_eye(board: list[int], p: int, colour: int, size: int) -> bool:
    if board[p] != EMPTY or any(board[q] != colour for q in neighbours(p, size)):
        return False
    row, col = divmod(p, size)
    diagonals = [
        r * size + c
        for r, c in ((row - 1, col - 1), (row - 1, col + 1), (row + 1, col - 1), (row + 1, col + 1))
        if 0 <= r < size and 0 <= c < size
    ]
    enemy = sum(board[q] == -colour for q in diagonals)
    return enemy == 0 if len(diagonals) < 4 else enemy <= 1


def random_start(seed: int, size: int) -> Position:
    """A mid-game position under simple ko (the rule play-outs use)."""
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=size, ko=KoRule.SIMPLE))
    for _ in range(int(rng.integers(0, size * size))):
        legal = np.flatnonzero(position.legal_mask()[:-1])
        if len(legal) == 0:
            break
        position.play(int(legal[rng.integers(len(legal))]))
    return position


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([5, 7, 9, 13]))
def test_playouts_are_legal_games_that_keep_their_eyes(seed: int, size: int) -> None:
    start = random_start(seed, size)
    record = random_playout_record(start, seed)
    position = start.copy()
    n2 = size * size
    for point in record.moves:
        board = position.board.tolist()
        if point == n2:  # passing only when every legal move would fill an own eye
            legal = np.flatnonzero(position.legal_mask()[:n2])
            assert all(is_true_eye(board, int(p), position.to_play, size) for p in legal)
        else:
            assert not is_true_eye(board, point, position.to_play, size)
        position.play(point)  # raises IllegalMove if the kernel broke a rule
    # two passes end it, unless a ko cycle (only simple ko is enforced) hit the limit
    assert position.is_over or len(record.moves) == 3 * n2
    assert position.board.tolist() == record.board.tolist()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), size=st.sampled_from([5, 9, 19]))
def test_playout_scores_agree_with_a_slow_tromp_taylor_count(seed: int, size: int) -> None:
    start = random_start(seed, size) if size < 19 else Position(Rules(size=19, komi=6.5))
    record = random_playout_record(start, seed)
    assert record.score == tromp_taylor(record.board.tolist(), size, start.komi)
    assert record.score == random_playout(start, seed)  # same seed, same game


def test_batch_playouts_are_reproducible_and_start_like_single_ones() -> None:
    position = Position()
    position.play(gtp_to_point("E5", 9))
    scores = random_playouts(position, 50, seed=7)
    assert scores.shape == (50,) and scores.dtype == np.float64
    assert np.array_equal(scores, random_playouts(position, 50, seed=7))
    assert scores[0] == random_playout(position, 7)
    assert len(set(scores.tolist())) > 5  # different games, not one repeated
    assert np.all(np.abs(scores) <= 81 + 7.5)


def test_generator_seeds_are_accepted_and_advance() -> None:
    rng = np.random.default_rng(3)
    results = {random_playout(Position(), rng) for _ in range(10)}
    assert len(results) > 1


def test_playout_respects_the_ko_point_of_the_start() -> None:
    position = Position.from_stones(
        Rules(size=5, ko=KoRule.SIMPLE),
        black=[gtp_to_point(p, 5) for p in ("A2", "B3", "B1")],
        white=[gtp_to_point(p, 5) for p in ("C3", "D2", "C1", "B2")],
    )
    position.play(gtp_to_point("C2", 5))  # black takes the ko; white may not retake
    for seed in range(200):
        assert random_playout_record(position, seed).moves[0] != gtp_to_point("B2", 5)


def test_a_board_of_eyes_is_passed_out_and_scored() -> None:
    eyes = {gtp_to_point("B2", 5), gtp_to_point("D4", 5)}
    black = [p for p in range(25) if p not in eyes]
    position = Position.from_stones(Rules(size=5, komi=7.5), black, [], to_play=WHITE)
    record = random_playout_record(position, 0)
    assert record.moves == (25, 25)
    assert record.score == 25 - 7.5


def test_a_finished_game_plays_no_moves() -> None:
    position = Position()
    position.play(40)
    position.play(81)
    position.play(81)
    record = random_playout_record(position, 1)
    assert record.moves == () and record.score == position.area_score()


def test_the_move_limit_stops_a_playout() -> None:
    record = random_playout_record(Position(), 5, max_moves=10)
    assert len(record.moves) == 10
    assert record.score == tromp_taylor(record.board.tolist(), 9, 7.5)
    scores, moves = random_playouts_with_moves(Position(), 4, 5, max_moves=10)
    assert moves == 40 and scores.shape == (4,)


def test_negative_arguments_are_rejected() -> None:
    with pytest.raises(ValueError):
        random_playouts(Position(), -1, 0)
    with pytest.raises(ValueError):
        random_playout(Position(), 0, max_moves=-1)


def test_any_integer_is_a_seed() -> None:
    for seed in (-1, 0, 2**63, 2**70 + 5):
        assert random_playout(Position(), seed) == random_playout(Position(), seed)
