"""Network input planes.

For ``history = H``: planes ``0..H-1`` hold the side to move's stones at t, t-1, ...,
planes ``H..2H-1`` the opponent's stones at t, t-1, ..., and plane ``2H`` is all ones
when black is to move (zeros when white is). Stones are always seen from the side to
move, so one network serves both colours; the colour plane lets it learn komi. Boards
before the game's start are empty planes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crowdzero.go.coords import BLACK
from crowdzero.go.position import Position


def _fill(out: np.ndarray, position: Position, history: int) -> None:
    """Write one position's planes into ``out`` [2H+1, N*N] (zeroed by the caller)."""
    me = position.to_play
    for t, board in enumerate(position.recent_boards(history)):
        out[t] = board == me
        out[history + t] = board == -me
    if me == BLACK:
        out[2 * history] = 1.0


def position_features(position: Position, history: int = 4) -> np.ndarray:
    """float32 [2H+1, N, N] planes for one position."""
    if history < 1:
        raise ValueError(f"history must be at least 1, not {history}")
    n = position.size
    out = np.zeros((2 * history + 1, n * n), dtype=np.float32)
    _fill(out, position, history)
    return out.reshape(2 * history + 1, n, n)


def batch_features(positions: Sequence[Position], history: int = 4) -> np.ndarray:
    """float32 [B, 2H+1, N, N] planes for positions of one board size."""
    if history < 1:
        raise ValueError(f"history must be at least 1, not {history}")
    if not positions:
        raise ValueError("batch_features needs at least one position")
    n = positions[0].size
    out = np.zeros((len(positions), 2 * history + 1, n * n), dtype=np.float32)
    for i, position in enumerate(positions):
        if position.size != n:
            raise ValueError(f"mixed board sizes in one batch ({n} and {position.size})")
        _fill(out[i], position, history)
    return out.reshape(len(positions), 2 * history + 1, n, n)
