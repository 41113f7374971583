"""Who owns each point at the end: the per-point form of the Tromp-Taylor area score.

The ownership head (KataGo's auxiliary target) learns this map; it is computed once per
finished game, so a plain flood fill is fast enough here.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go.coords import BLACK, EMPTY, WHITE
from crowdzero.go.position import Position


def area_ownership(position: Position) -> np.ndarray:
    """int8 [N*N]: +1 black's area, -1 white's, 0 neutral (dame or seki-shared space).

    A point is a colour's area if it holds that colour's stone, or if it is empty and
    every stone its empty region touches is of that colour: the same rule as the score,
    so `area_ownership(p).sum() == black area - white area`.
    """
    size = position.size
    board = position.board
    owner = board.astype(np.int8).copy()
    seen = np.zeros(size * size, dtype=bool)
    for start in range(size * size):
        if board[start] != EMPTY or seen[start]:
            continue
        region = [start]
        seen[start] = True
        touches = 0  # bit 1: black seen, bit 2: white seen
        i = 0
        while i < len(region):
            point = region[i]
            i += 1
            row, col = divmod(point, size)
            for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
                if not (0 <= r < size and 0 <= c < size):
                    continue
                q = r * size + c
                stone = board[q]
                if stone == EMPTY:
                    if not seen[q]:
                        seen[q] = True
                        region.append(q)
                elif stone == BLACK:
                    touches |= 1
                else:
                    touches |= 2
        value = BLACK if touches == 1 else WHITE if touches == 2 else 0
        owner[region] = value
    return owner
