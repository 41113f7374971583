"""Points, colours and GTP coordinates.

A board of size N has points ``0 .. N*N-1`` with ``p = row * N + col``; row 0 is GTP row
1 (the bottom) and column 0 is ``A``. GTP skips the letter ``I`` so that it cannot be
mistaken for ``J`` or ``1``. ``N*N`` is the pass "point" (policies have ``N*N + 1``
entries, pass last) and ``RESIGN = -1`` stands for resignation in move records.
"""

from __future__ import annotations

import re
from typing import Final

from crowdzero.go.errors import CoordinateError

BLACK: Final = 1
WHITE: Final = -1
EMPTY: Final = 0
RESIGN: Final = -1

MIN_SIZE: Final = 5
MAX_SIZE: Final = 19

COLUMNS: Final = "ABCDEFGHJKLMNOPQRST"
_GTP_POINT = re.compile(r"([a-hj-t])([1-9][0-9]?)")


def opponent(colour: int) -> int:
    """The other colour (``-colour``)."""
    return -colour


def colour_name(colour: int) -> str:
    """ "Black" or "White"; a ValueError for anything else."""
    if colour == BLACK:
        return "Black"
    if colour == WHITE:
        return "White"
    raise ValueError(f"{colour} is not a colour (BLACK=1, WHITE=-1)")


def pass_point(size: int) -> int:
    """The index of the pass move on a board of ``size`` (the last policy entry)."""
    return size * size


def to_row_col(point: int, size: int) -> tuple[int, int]:
    """``(row, col)`` of an on-board point, row 0 at the bottom."""
    if not 0 <= point < size * size:
        raise CoordinateError(f"{point} is not a point on a {size}x{size} board")
    return divmod(point, size)


def from_row_col(row: int, col: int, size: int) -> int:
    """The flat index of ``(row, col)``, row 0 at the bottom."""
    if not (0 <= row < size and 0 <= col < size):
        raise CoordinateError(f"({row}, {col}) is not on a {size}x{size} board")
    return row * size + col


def point_to_gtp(point: int, size: int) -> str:
    """GTP text for a point: "D4", "pass" (``N*N``) or "resign" (``RESIGN``)."""
    if point == size * size:
        return "pass"
    if point == RESIGN:
        return "resign"
    row, col = to_row_col(point, size)
    return f"{COLUMNS[col]}{row + 1}"


def gtp_to_point(text: str, size: int) -> int:
    """The point named by GTP text ("d4", "D4", "pass", "resign"), case-insensitive.

    Raises CoordinateError for malformed text and for points off a ``size`` board.
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise CoordinateError(f"board size {size} is outside {MIN_SIZE}..{MAX_SIZE}")
    word = text.strip().lower()
    if word == "pass":
        return size * size
    if word == "resign":
        return RESIGN
    match = _GTP_POINT.fullmatch(word)
    if match is None:
        raise CoordinateError(f"{text!r} is not a GTP point (like D4 or pass)")
    col = COLUMNS.index(match.group(1).upper())
    row = int(match.group(2)) - 1
    if col >= size or row >= size:
        raise CoordinateError(f"{text.strip().upper()} is off the {size}x{size} board")
    return row * size + col
