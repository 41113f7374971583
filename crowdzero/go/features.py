"""Network input planes, described by a `FeatureSpec`.

For ``FeatureSpec(history=H, liberties=L)`` the planes are, in this order:

- ``0..H-1``: the side to move's stones at t, t-1, ...;
- ``H..2H-1``: the opponent's stones at t, t-1, ...;
- ``2H``: all ones when black is to move (zeros when white is);
- only when ``L``: ``2H+1..2H+3`` the side to move's stones in groups with 1, 2 and 3 or
  more liberties, ``2H+4..2H+6`` the same for the opponent's stones, and ``2H+7`` the ko
  point (the one point the side to move may not play because of simple ko; empty when
  there is none);
- only with ``advice`` (`crowdzero.go.advice`), last: the advised point (one-hot), a plane
  of ones when the advice is to pass, then one plane per source in `ADVICE_SOURCES`, all
  ones for the source of this advice. No advice: all of them zero ("blank"), which is why
  blank advice leaves the network's output exactly what it would be without the planes
  (a zero plane adds nothing to a convolution). The source planes carry what is known
  about the adviser, so the net can learn to follow one source and avoid another.

Stones are always seen from the side to move, so one network serves both colours; the
colour plane lets it learn komi. Boards before the game's start are empty planes. The
liberty and ko planes come after the older planes, so a net without them reads the same
first ``2H+1`` planes as before (and cheap evaluators can read stones and colour at the
same indices whichever spec built the planes); the advice planes come last for the same
reason. Every plane is spatial, so the 8 board
symmetries (`crowdzero.net.symmetry`) map all of them alike.

Liberty counts are computed for the current board only (not the history boards): they
say "this group can be captured next move", which a few convolutions cannot see for a
long group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crowdzero.go import _kernels as k
from crowdzero.go.advice import ADVICE_SOURCES, Advice
from crowdzero.go.coords import BLACK
from crowdzero.go.position import Position

LIBERTY_PLANES = 6  # own stones with 1, 2, 3+ liberties, then the opponent's
KO_PLANES = 1
ADVICE_PLANES = 2 + len(ADVICE_SOURCES)  # point, pass, one per source


@dataclass(frozen=True)
class FeatureSpec:
    """Which planes a network reads: ``history`` boards, the liberty and ko planes, and
    the advice planes (``advice``; off for every net built before advice existed).

    A net's spec is ``NetConfig.features``; whatever builds planes for a net (search,
    agent, replay window, study) must use that net's spec.
    """

    history: int = 4
    liberties: bool = True
    advice: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.history, bool) or not isinstance(self.history, int):
            raise TypeError(f"history must be an int, not {self.history!r}")
        if self.history < 1:
            raise ValueError(f"history must be at least 1, not {self.history}")

    def describe(self) -> str:
        """Short human label, e.g. 'history 4 with liberty and ko planes'."""
        label = f"history {self.history}" + (
            " with liberty and ko planes" if self.liberties else ""
        )
        return label + (" and advice planes" if self.advice else "")

    @property
    def planes(self) -> int:
        """Planes per position: ``2H+1``, plus 7 with liberties (6 liberty + 1 ko), plus
        ``ADVICE_PLANES`` with advice."""
        return self.advice_plane + (ADVICE_PLANES if self.advice else 0)

    @property
    def advice_plane(self) -> int:
        """Index of the advised-point plane (the first advice plane) when ``advice``; the
        planes before it are the same with or without advice."""
        extra = LIBERTY_PLANES + KO_PLANES if self.liberties else 0
        return 2 * self.history + 1 + extra

    @property
    def opponent_plane(self) -> int:
        """Index of the opponent's current stones (the side to move's are plane 0)."""
        return self.history

    @property
    def colour_plane(self) -> int:
        """Index of the plane that is all ones when black is to move."""
        return 2 * self.history

    @property
    def liberty_plane(self) -> int:
        """Index of the first liberty plane (own stones in atari); -1 without them."""
        return 2 * self.history + 1 if self.liberties else -1

    @property
    def ko_plane(self) -> int:
        """Index of the ko point plane; -1 without it."""
        return 2 * self.history + 1 + LIBERTY_PLANES if self.liberties else -1


def _check_spec(spec: FeatureSpec) -> None:
    if not isinstance(spec, FeatureSpec):
        raise TypeError(
            f"features need a FeatureSpec (a net's is NetConfig.features), not {spec!r}"
        )


def _fill(
    out: np.ndarray, position: Position, spec: FeatureSpec, advice: Advice | None = None
) -> None:
    """Write one position's planes into ``out`` [C, N*N] (zeroed by the caller); `advice`
    is ignored by a spec without advice planes."""
    history = spec.history
    me = position.to_play
    for t, board in enumerate(position.recent_boards(history)):
        out[t] = board == me
        out[history + t] = board == -me
    if me == BLACK:
        out[2 * history] = 1.0
    if spec.liberties:
        first = spec.liberty_plane
        tables = k.tables(position.size)
        k.liberty_planes(
            position.board, me, tables.nbr, tables.zobrist, out[first : first + LIBERTY_PLANES]
        )
        if position.ko_point >= 0:
            out[spec.ko_plane, position.ko_point] = 1.0
    if spec.advice and advice is not None:
        fill_advice(out[spec.advice_plane :], advice, position.size)


def fill_advice(planes: np.ndarray, advice: Advice, size: int) -> None:
    """Write `advice` into its ``ADVICE_PLANES`` planes [ADVICE_PLANES, N*N] (zeroed).

    Raises ValueError for a point off the board, so advice that slipped past validation
    never becomes a silent blank.
    """
    n2 = size * size
    if advice.point > n2:
        raise ValueError(f"advice point {advice.point} is not on a {size}x{size} board")
    if advice.point == n2:
        planes[1] = 1.0
    else:
        planes[0, advice.point] = 1.0
    planes[2 + ADVICE_SOURCES.index(advice.source)] = 1.0


def position_features(
    position: Position, spec: FeatureSpec, advice: Advice | None = None
) -> np.ndarray:
    """float32 [C, N, N] planes for one position (C = ``spec.planes``); `advice` fills the
    advice planes of a spec that has them (None: blank)."""
    _check_spec(spec)
    n = position.size
    out = np.zeros((spec.planes, n * n), dtype=np.float32)
    _fill(out, position, spec, advice)
    return out.reshape(spec.planes, n, n)


def batch_features(
    positions: Sequence[Position],
    spec: FeatureSpec,
    advice: Sequence[Advice | None] | None = None,
) -> np.ndarray:
    """float32 [B, C, N, N] planes for positions of one board size (C = ``spec.planes``).

    `advice`: one entry per position (None = blank), or None for no advice at all.
    """
    _check_spec(spec)
    if not positions:
        raise ValueError("batch_features needs at least one position")
    if advice is not None and len(advice) != len(positions):
        raise ValueError(f"{len(advice)} advice entries for {len(positions)} positions")
    n = positions[0].size
    out = np.zeros((len(positions), spec.planes, n * n), dtype=np.float32)
    for i, position in enumerate(positions):
        if position.size != n:
            raise ValueError(f"mixed board sizes in one batch ({n} and {position.size})")
        _fill(out[i], position, spec, None if advice is None else advice[i])
    return out.reshape(len(positions), spec.planes, n, n)
