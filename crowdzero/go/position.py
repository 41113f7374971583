"""The rules of Go: a mutable position, legal moves, ko and superko, area scoring.

Rules: square boards 5x5..19x19, area (Tromp-Taylor) scoring with komi, suicide illegal
(single stones and groups), two consecutive passes end the game, either side may resign.
Ko is positional superko by default (no move may recreate an earlier board), with
situational superko (board plus side to move) and simple ko as options.

`Position` is a thin Python wrapper over numba kernels (`_kernels.py`) because the tree
search copies and plays positions constantly. Two choices keep `copy()` and `play()` at a
few microseconds:

- a board array is never changed after it is made: `play()` builds the next board in a
  fresh array, so copies share boards and the history of boards (for feature planes) is
  a linked list ``(board, older)`` shared by every copy;
- the log of earlier hashes (superko) is a numpy array shared between copies until one
  of them plays (copy on write), and the kernels search it without leaving numba.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

import numpy as np

from crowdzero.go import _kernels as k
from crowdzero.go.coords import (
    BLACK,
    COLUMNS,
    EMPTY,
    MAX_SIZE,
    MIN_SIZE,
    RESIGN,
    WHITE,
    colour_name,
    point_to_gtp,
)
from crowdzero.go.errors import IllegalMove

_History = tuple[np.ndarray, Any]  # (board, older history or None)


class KoRule(StrEnum):
    """How repetition is forbidden.

    SIMPLE: only the immediate recapture of a single-stone ko.
    POSITIONAL: no move may recreate any earlier board (whoever is to move).
    SITUATIONAL: no move may recreate an earlier board with the same side to move.
    """

    SIMPLE = "simple"
    POSITIONAL = "positional"
    SITUATIONAL = "situational"


@dataclass(frozen=True)
class Rules:
    """Board size, komi and ko rule; validated so a bad config fails where it is read."""

    size: int = 9
    komi: float = 7.5
    ko: KoRule = KoRule.POSITIONAL

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int | np.integer):
            raise ValueError(f"board size must be an integer, not {self.size!r}")
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise ValueError(f"board size {self.size} is outside {MIN_SIZE}..{MAX_SIZE}")
        komi = float(self.komi)
        if not math.isfinite(komi):
            raise ValueError(f"komi must be a finite number, not {self.komi!r}")
        try:
            ko = KoRule(self.ko)
        except ValueError:
            choices = ", ".join(rule.value for rule in KoRule)
            raise ValueError(f"ko rule {self.ko!r} is not one of {choices}") from None
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "komi", komi)
        object.__setattr__(self, "ko", ko)


_NO_SWAP = np.uint64(0)


class _KoKeys(NamedTuple):
    """What the kernels need to know about the ko rule, worked out once per Rules."""

    superko: bool  # search the hash log at all
    swap: np.uint64  # xored into a hash when the turn passes (situational only)
    white_key: int  # the same key as a Python int, for `Position.hash`


@cache
def _ko_keys(rules: Rules) -> _KoKeys:
    if rules.ko is KoRule.SITUATIONAL:
        key = k.tables(rules.size).white_to_move
        return _KoKeys(True, key, int(key))
    return _KoKeys(rules.ko is KoRule.POSITIONAL, _NO_SWAP, 0)


_MESSAGES = {
    k.OCCUPIED: "{} is occupied",
    k.SUICIDE: "{} is suicide",
    k.KO: "{} retakes the ko",
}


class Position:
    """A game in progress: the board, whose turn it is and everything the rules need
    to judge the next move (ko point, earlier positions, passes, resignation)."""

    __slots__ = (
        "_history",
        "_ko",
        "_log",
        "_log_len",
        "_log_shared",
        "_stone_hash",
        "_tables",
        "board",
        "captures",
        "consecutive_passes",
        "hash",
        "ko_point",
        "komi",
        "last_move",
        "moves",
        "resigned",
        "rules",
        "size",
        "to_play",
    )

    rules: Rules
    size: int
    komi: float
    board: np.ndarray
    to_play: int
    ko_point: int
    consecutive_passes: int
    moves: list[tuple[int, int]]
    captures: dict[int, int]
    resigned: int
    last_move: int | None
    hash: int

    def __init__(self, rules: Rules = Rules()) -> None:
        self.rules = rules
        self.size = rules.size
        self.komi = rules.komi
        self._tables = k.tables(rules.size)
        self._ko = _ko_keys(rules)
        board = np.zeros(rules.size * rules.size, dtype=np.int8)
        board.setflags(write=False)
        self.board = board
        self._history: _History = (board, None)
        self.to_play = BLACK
        self.ko_point = -1
        self.consecutive_passes = 0
        self.moves = []
        self.captures = {BLACK: 0, WHITE: 0}
        self.resigned = 0
        self.last_move = None
        self._stone_hash = 0
        self.hash = 0
        self._log = np.zeros(64, dtype=np.uint64)  # hashes of every position so far
        self._log_len = 1
        self._log_shared = False

    @classmethod
    def from_stones(
        cls,
        rules: Rules = Rules(),
        black: tuple[int, ...] | list[int] = (),
        white: tuple[int, ...] | list[int] = (),
        to_play: int = BLACK,
    ) -> Position:
        """A position with stones set up (handicap, SGF ``AB``/``AW``, test boards).

        The setup is the start of the game: it has no history before it. Raises
        ValueError if a point is off the board or given twice, or if a group has no
        liberty.
        """
        position = cls(rules)
        n2 = rules.size * rules.size
        board = np.zeros(n2, dtype=np.int8)
        for colour, points in ((BLACK, black), (WHITE, white)):
            for point in points:
                if not 0 <= point < n2:
                    raise ValueError(f"setup point {point} is off the board")
                if board[point] != EMPTY:
                    raise ValueError(
                        f"setup point {point_to_gtp(point, rules.size)} is given twice"
                    )
                board[point] = colour
        if to_play not in (BLACK, WHITE):
            raise ValueError(f"{to_play} is not a colour")
        nbr = position._tables.nbr
        stones = np.flatnonzero(board).tolist()
        for stone in stones:
            if not _has_liberty(board, stone, nbr):
                name = point_to_gtp(stone, rules.size)
                raise ValueError(f"the setup group at {name} has no liberty")
        board.setflags(write=False)
        position.board = board
        position._history = (board, None)
        zob = position._tables.zobrist
        stone_hash = 0
        for stone in stones:
            stone_hash ^= int(zob[0 if board[stone] == BLACK else 1, stone])
        position._stone_hash = stone_hash
        position.to_play = to_play
        position.hash = position._situation_hash(stone_hash, to_play)
        position._log[0] = position.hash
        return position

    # ------------------------------------------------------------------ state

    @property
    def is_over(self) -> bool:
        """True after two consecutive passes or a resignation."""
        return self.resigned != 0 or self.consecutive_passes >= 2

    @property
    def pass_point(self) -> int:
        """``N*N``, the index of the pass move."""
        return self.size * self.size

    def copy(self) -> Position:
        """An independent position; costs a few microseconds (boards are shared, never
        mutated; the superko set is copied only when one side plays)."""
        new = Position.__new__(Position)
        new.rules = self.rules
        new.size = self.size
        new.komi = self.komi
        new._tables = self._tables
        new._ko = self._ko
        new.board = self.board
        new._history = self._history
        new.to_play = self.to_play
        new.ko_point = self.ko_point
        new.consecutive_passes = self.consecutive_passes
        new.moves = self.moves.copy()
        new.captures = self.captures.copy()
        new.resigned = self.resigned
        new.last_move = self.last_move
        new._stone_hash = self._stone_hash
        new.hash = self.hash
        new._log = self._log
        new._log_len = self._log_len
        new._log_shared = True
        self._log_shared = True
        return new

    def recent_boards(self, count: int) -> list[np.ndarray]:
        """Up to ``count`` boards, newest first (the current board, then the board
        before the last move, ...); fewer at the start of the game."""
        boards: list[np.ndarray] = []
        node: _History | None = self._history
        while node is not None and len(boards) < count:
            boards.append(node[0])
            node = node[1]
        return boards

    def _situation_hash(self, stone_hash: int, to_play: int) -> int:
        """The hash superko compares: stones, plus the side to move when situational."""
        return stone_hash ^ self._ko.white_key if to_play == WHITE else stone_hash

    # ------------------------------------------------------------------ moves

    def play(self, point: int) -> None:
        """Play ``point`` for the side to move (``N*N`` passes, ``RESIGN`` resigns).

        Raises IllegalMove, leaving the position unchanged, if the rules forbid it.
        """
        if self.resigned or self.consecutive_passes >= 2:
            raise IllegalMove("the game is over")
        point = operator.index(point)  # numpy integers become ints; floats are refused
        n2 = self.size * self.size
        colour = self.to_play
        if point == n2:
            self._advance(self.board, self._stone_hash, n2, -1)
            self.consecutive_passes += 1
            return
        if point == RESIGN:
            self.resign()
            return
        if not 0 <= point < n2:
            raise IllegalMove(f"{point} is not a point on the {self.size}x{self.size} board")
        board = self.board.copy()
        tables = self._tables
        count = self._log_len if self._ko.superko else 0
        swap = self._ko.swap
        code, captured, new_ko, delta = k.play_stone(
            board, point, colour, self.ko_point, tables.nbr, tables.zobrist, self._log, count, swap
        )
        if code != k.OK:
            raise IllegalMove(self._message(code, point))
        stone_hash = self._stone_hash ^ int(delta)
        board.setflags(write=False)
        if captured:
            self.captures[colour] += captured
        self._advance(board, stone_hash, point, new_ko)
        self.consecutive_passes = 0

    def _advance(self, board: np.ndarray, stone_hash: int, point: int, ko_point: int) -> None:
        colour = self.to_play
        self.moves.append((colour, point))
        self.last_move = point
        self.board = board
        self._history = (board, self._history)
        self.ko_point = ko_point
        self.to_play = -colour
        self._stone_hash = stone_hash
        self.hash = self._situation_hash(stone_hash, -colour)
        log = self._log
        n = self._log_len
        if n == log.size:
            self._log = log = np.concatenate((log, np.zeros_like(log)))
            self._log_shared = False
        elif self._log_shared:
            self._log = log = log.copy()
            self._log_shared = False
        log[n] = self.hash
        self._log_len = n + 1

    def _message(self, code: int, point: int) -> str:
        name = point_to_gtp(point, self.size)
        if code == k.SUPERKO:
            return f"{name} repeats an earlier position ({self.rules.ko.value} superko)"
        return _MESSAGES[code].format(name)

    def resign(self) -> None:
        """The side to move resigns; the game is over and the opponent wins."""
        if self.is_over:
            raise IllegalMove("the game is over")
        self.resigned = self.to_play

    def illegal_reason(self, point: int) -> str | None:
        """Why ``point`` is illegal for the side to move, or None if it is legal."""
        if self.is_over:
            return "the game is over"
        point = operator.index(point)
        n2 = self.size * self.size
        if point == n2:
            return None
        if not 0 <= point < n2:
            return f"{point} is not a point on the {self.size}x{self.size} board"
        tables = self._tables
        count = self._log_len if self._ko.superko else 0
        swap = self._ko.swap
        code, _, _, _ = k.play_stone(
            self.board.copy(),
            point,
            self.to_play,
            self.ko_point,
            tables.nbr,
            tables.zobrist,
            self._log,
            count,
            swap,
        )
        return None if code == k.OK else self._message(code, point)

    def is_legal(self, point: int) -> bool:
        """Whether the side to move may play ``point`` (pass is legal until the end)."""
        return self.illegal_reason(point) is None

    def legal_mask(self) -> np.ndarray:
        """bool [N*N+1]: the legal moves, pass last; all False once the game is over."""
        n2 = self.size * self.size
        mask = np.zeros(n2 + 1, dtype=np.bool_)
        if self.is_over:
            return mask
        tables = self._tables
        count = self._log_len if self._ko.superko else 0
        swap = self._ko.swap
        k.legal_points(
            self.board,
            self.to_play,
            self.ko_point,
            tables.nbr,
            tables.zobrist,
            mask[:n2],
            self._log,
            count,
            swap,
        )
        mask[n2] = True
        return mask

    # ------------------------------------------------------------------ scoring

    def area_counts(self) -> tuple[int, int]:
        """``(black, white)`` Tromp-Taylor area: stones plus empty regions that reach
        only that colour."""
        black, white = k.area_counts(self.board, self._tables.nbr)
        return int(black), int(white)

    def area_score(self) -> float:
        """Tromp-Taylor score of the board as it stands: black area - white area - komi."""
        black, white = self.area_counts()
        return black - white - self.komi

    def winner(self) -> int:
        """BLACK or WHITE (0 for a jigo): the resignation decides, else the area score."""
        if self.resigned:
            return -self.resigned
        score = self.area_score()
        return BLACK if score > 0 else WHITE if score < 0 else 0

    def result_string(self) -> str:
        """SGF-style result: "B+3.5", "W+R" or "0" (jigo)."""
        if self.resigned:
            return f"{'B' if self.resigned == WHITE else 'W'}+R"
        score = self.area_score()
        if score == 0:
            return "0"
        return f"{'B' if score > 0 else 'W'}+{abs(score):g}"

    # ------------------------------------------------------------------ views

    def __str__(self) -> str:
        n = self.size
        letters = "   " + " ".join(COLUMNS[:n])
        lines = [letters]
        marks = {BLACK: "X", WHITE: "O", EMPTY: "."}
        for row in range(n - 1, -1, -1):
            cells = []
            for col in range(n):
                point = row * n + col
                cells.append(marks[int(self.board[point])])
            lines.append(f"{row + 1:>2} {' '.join(cells)} {row + 1:<2}".rstrip())
        lines.append(letters)
        if self.is_over:
            status = f"game over: {self.result_string()}"
        else:
            status = f"{colour_name(self.to_play)} to play"
        lines.append(
            f"{status}; captures X {self.captures[BLACK]} O {self.captures[WHITE]}; "
            f"komi {self.komi:g}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"Position(size={self.size}, moves={len(self.moves)}, "
            f"to_play={colour_name(self.to_play)}, over={self.is_over})"
        )


def _has_liberty(board: np.ndarray, start: int, nbr: np.ndarray) -> bool:
    colour = board[start]
    seen = {start}
    stack = [start]
    while stack:
        p = stack.pop()
        for q in nbr[p]:
            if q < 0:
                break
            value = board[q]
            if value == EMPTY:
                return True
            if value == colour and int(q) not in seen:
                seen.add(int(q))
                stack.append(int(q))
    return False
