"""Random play-outs for Monte Carlo players, run entirely inside numba.

A play-out plays uniformly random legal moves that never fill the mover's own true
single-point eye (every orthogonal neighbour is the mover's; the opponent holds no
diagonal on the edge, at most one in the centre), passes when no such move exists, and
ends on two consecutive passes. It returns the Tromp-Taylor score of the final board:
black area - white area - komi.

Inside a play-out only **simple ko** is enforced, whatever `Rules.ko` says: checking
superko would need the whole hash history in the hot loop and changes almost no random
game. A superko cycle (rare) simply runs until ``max_moves`` (default ``3 * N * N``)
and the board is scored as it stands then. A play-out from a finished position returns
that position's area score (a resignation is not scored).

Kernels compile on first use and are cached on disk; call `warm_up()` to pay that cost
up front (benchmarks do).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowdzero.go import _kernels as k
from crowdzero.go.position import Position


@dataclass(frozen=True)
class PlayoutRecord:
    """One play-out in full, for tests and for players that learn from play-outs."""

    moves: tuple[int, ...]  # points played after the start position, pass = N*N
    board: np.ndarray  # int8 [N*N] final board
    score: float  # black area - white area - komi


def _seed(rng: np.random.Generator | int) -> int:
    """An int64 seed for the kernels (numpy Generators give one draw)."""
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(0, 2**63))
    return (int(rng) + 2**63) % 2**64 - 2**63  # any Python int, folded into int64


def _limit(position: Position, max_moves: int | None) -> int:
    if max_moves is None:
        return 3 * position.size * position.size
    if max_moves < 0:
        raise ValueError(f"max_moves must be >= 0, not {max_moves}")
    return max_moves


def _start(position: Position) -> tuple[np.ndarray, int, int, int]:
    """Board copy, side to move, ko point and passes to start from (a finished game
    starts with two passes, so no move is played)."""
    passes = 2 if position.is_over else position.consecutive_passes
    return position.board.copy(), position.to_play, position.ko_point, passes


def random_playout(
    position: Position, rng: np.random.Generator | int, max_moves: int | None = None
) -> float:
    """Score (black - white - komi) of one random non-eye-filling play-out.

    ``rng`` is a numpy Generator (one seed is drawn from it) or an integer seed.
    """
    board, colour, ko_point, passes = _start(position)
    tables = position._tables
    score, _ = k.playout_once(
        board,
        colour,
        ko_point,
        passes,
        _limit(position, max_moves),
        position.komi,
        tables.nbr,
        tables.diag,
        _seed(rng),
        np.empty(0, np.int32),
    )
    return float(score)


def random_playout_record(
    position: Position, rng: np.random.Generator | int, max_moves: int | None = None
) -> PlayoutRecord:
    """Like `random_playout` (same seed, same game) but also returns the moves played
    and the final board."""
    board, colour, ko_point, passes = _start(position)
    tables = position._tables
    limit = _limit(position, max_moves)
    record = np.empty(max(limit, 1), np.int32)
    score, moves = k.playout_once(
        board,
        colour,
        ko_point,
        passes,
        limit,
        position.komi,
        tables.nbr,
        tables.diag,
        _seed(rng),
        record[:limit] if limit else record[:0],
    )
    return PlayoutRecord(tuple(record[:moves].tolist()), board, float(score))


def random_playouts(
    position: Position, n: int, seed: np.random.Generator | int, max_moves: int | None = None
) -> np.ndarray:
    """float64 [n] scores of ``n`` independent play-outs from ``position``; the whole
    loop runs in numba without the GIL."""
    scores, _ = random_playouts_with_moves(position, n, seed, max_moves)
    return scores


def random_playouts_with_moves(
    position: Position, n: int, seed: np.random.Generator | int, max_moves: int | None = None
) -> tuple[np.ndarray, int]:
    """`random_playouts` plus the total number of moves played (for benchmarks)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    board, colour, ko_point, passes = _start(position)
    tables = position._tables
    scores = np.empty(n, np.float64)
    total = k.playout_many(
        board,
        colour,
        ko_point,
        passes,
        _limit(position, max_moves),
        position.komi,
        tables.nbr,
        tables.diag,
        _seed(seed),
        scores,
    )
    return scores, int(total)


def warm_up() -> None:
    """Compile (or load from the on-disk cache) every kernel now, not on first use."""
    position = Position()
    position.play(40)
    position.legal_mask()
    position.illegal_reason(40)
    position.area_score()
    random_playout_record(position, 0, max_moves=20)
    random_playouts(position, 1, 0, max_moves=20)
