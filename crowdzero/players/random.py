"""The weakest crowd members: uniform random movers.

`RandomPlayer` is "never played before": any legal point, passing only when there is
none, so it fills its own eyes and kills its own groups. `RandomNoEyePlayer` adds the one
rule every beginner learns first (never fill your own single-point eye), which is also
the policy of Monte Carlo play-outs, so its games end with living groups on the board.
Both are exact about their distribution (`move_distribution`), which the study uses to
measure how closely the agent imitates them.
"""

from __future__ import annotations

import numpy as np

from crowdzero.go import _kernels
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player


def own_eye_mask(position: Position, colour: int | None = None) -> np.ndarray:
    """bool [N*N]: single-point eyes of `colour` (default: the side to move).

    An eye is an empty point whose orthogonal neighbours are all `colour` and whose
    diagonals hold no opponent stone on the edge, at most one in the centre (the same
    definition the play-out kernels use).
    """
    side = position.to_play if colour is None else colour
    tables = _kernels.tables(position.size)
    board = position.board
    # Index -1 (a missing neighbour) reads the appended value: an off-board orthogonal
    # neighbour counts as own stone, an off-board diagonal as empty.
    orthogonal = np.append(board, np.int8(side))[tables.nbr]
    diagonal = np.append(board, np.int8(0))[tables.diag]
    surrounded = (orthogonal == side).all(axis=1) & (board == 0)
    enemy_diagonals = (diagonal == -side).sum(axis=1)
    on_edge = (tables.diag < 0).any(axis=1)
    return surrounded & np.where(on_edge, enemy_diagonals == 0, enemy_diagonals <= 1)


class RandomPlayer(Player):
    """Uniform over legal non-pass moves; passes only when it has no other move."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self._rng = np.random.default_rng(seed)

    def _candidates(self, position: Position) -> np.ndarray:
        """bool [N*N]: the points this player chooses among."""
        return position.legal_mask()[: position.size * position.size]

    def move_distribution(self, position: Position) -> np.ndarray:
        """float32 [N*N+1]: uniform over the candidates, or all on pass if none."""
        n2 = position.size * position.size
        distribution = np.zeros(n2 + 1, dtype=np.float32)
        if position.is_over:
            return distribution
        candidates = self._candidates(position)
        count = int(candidates.sum())
        if count == 0:
            distribution[n2] = 1.0
        else:
            distribution[:n2][candidates] = 1.0 / count
        return distribution

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        points = np.flatnonzero(self._candidates(position))
        if len(points) == 0:
            return MoveChoice(point=position.size * position.size)
        return MoveChoice(point=int(self._rng.choice(points)))


class RandomNoEyePlayer(RandomPlayer):
    """Uniform over legal moves that do not fill one of its own single-point eyes."""

    name = "random-noeye"

    def _candidates(self, position: Position) -> np.ndarray:
        return super()._candidates(position) & ~own_eye_mask(position)
