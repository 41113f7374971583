"""Go tactics a beginner sees: groups, liberties, what a move does, eyes, ladders, territory.

The heuristic crowd members and the flaw detectors both need to ask "what would this move
do?" (capture, rescue a group in atari, put itself in atari...) for every empty point, many
times a move. Asking the rules engine to play each candidate on a copy would be exact but
slow, so this module reads the answer from the current board's groups and liberties: one
flood fill per move, then a few set operations per candidate point.

Everything works on a flat board (the contract's `p = row * N + col`, `BLACK/WHITE/EMPTY`)
and never decides legality: callers combine these facts with `Position.legal_mask()`, which
knows about ko and superko. Ladder reading simulates stones on a private list board and
ignores ko (a ladder that depends on a ko is rare, and a beginner does not read it either).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BLACK = 1
WHITE = -1
EMPTY = 0


@dataclass(frozen=True)
class Geometry:
    """Neighbour tables for one board size (cached: built once per size)."""

    size: int
    neighbours: tuple[tuple[int, ...], ...]
    diagonals: tuple[tuple[int, ...], ...]
    line: tuple[int, ...]  # 0 on the first (edge) line, 1 on the second, ...


@functools.cache
def geometry(size: int) -> Geometry:
    """The `Geometry` of an N x N board."""
    neighbours: list[tuple[int, ...]] = []
    diagonals: list[tuple[int, ...]] = []
    line: list[int] = []
    for p in range(size * size):
        row, col = divmod(p, size)
        neighbours.append(
            tuple(
                r * size + c
                for r, c in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1))
                if 0 <= r < size and 0 <= c < size
            )
        )
        diagonals.append(
            tuple(
                r * size + c
                for r, c in (
                    (row - 1, col - 1),
                    (row - 1, col + 1),
                    (row + 1, col - 1),
                    (row + 1, col + 1),
                )
                if 0 <= r < size and 0 <= c < size
            )
        )
        line.append(min(row, col, size - 1 - row, size - 1 - col))
    return Geometry(size, tuple(neighbours), tuple(diagonals), tuple(line))


@functools.cache
def manhattan_table(size: int) -> np.ndarray:
    """int16 [N*N, N*N] Manhattan distances between all pairs of points."""
    rows, cols = np.divmod(np.arange(size * size), size)
    table = np.abs(rows[:, None] - rows[None, :]) + np.abs(cols[:, None] - cols[None, :])
    return table.astype(np.int16)


def nearest_stone_distances(board: np.ndarray, size: int, colour: int) -> np.ndarray:
    """int16 [N*N]: Manhattan distance from each point to the nearest `colour` stone.

    2 * N where that colour has no stone (farther than any real distance).
    """
    stones = np.flatnonzero(board == colour)
    if stones.size == 0:
        return np.full(size * size, 2 * size, dtype=np.int16)
    return manhattan_table(size)[:, stones].min(axis=1)


def chebyshev(a: int, b: int, size: int) -> int:
    """King-move distance between two points ("within two lines" means <= 2)."""
    ra, ca = divmod(a, size)
    rb, cb = divmod(b, size)
    return max(abs(ra - rb), abs(ca - cb))


@dataclass(frozen=True)
class Group:
    """A maximal connected chain of one colour's stones and its liberties."""

    colour: int
    stones: frozenset[int]
    liberties: frozenset[int]

    @property
    def in_atari(self) -> bool:
        return len(self.liberties) == 1


class BoardGroups:
    """Every group on a board, found with one flood fill.

    `label[p]` is the index into `groups` of the group holding p, or -1 for an empty point.
    """

    def __init__(self, board: np.ndarray | Sequence[int], size: int) -> None:
        self.size = size
        self.geometry = geometry(size)
        cells = board.tolist() if isinstance(board, np.ndarray) else list(board)
        self.cells: list[int] = cells
        self.label: list[int] = [-1] * (size * size)
        self.groups: list[Group] = []
        nbrs = self.geometry.neighbours
        for start, colour in enumerate(cells):
            if colour == EMPTY or self.label[start] >= 0:
                continue
            index = len(self.groups)
            self.label[start] = index
            stack = [start]
            stones = [start]
            liberties: set[int] = set()
            while stack:
                p = stack.pop()
                for q in nbrs[p]:
                    cq = cells[q]
                    if cq == EMPTY:
                        liberties.add(q)
                    elif cq == colour and self.label[q] < 0:
                        self.label[q] = index
                        stack.append(q)
                        stones.append(q)
            self.groups.append(Group(colour, frozenset(stones), frozenset(liberties)))

    def group_at(self, p: int) -> Group | None:
        """The group holding point p, or None when p is empty."""
        index = self.label[p]
        return self.groups[index] if index >= 0 else None

    def adjacent_groups(self, p: int) -> list[Group]:
        """Distinct groups touching point p."""
        seen: list[int] = []
        for q in self.geometry.neighbours[p]:
            index = self.label[q]
            if index >= 0 and index not in seen:
                seen.append(index)
        return [self.groups[i] for i in seen]

    def groups_in_atari(self, colour: int) -> list[Group]:
        """Groups of `colour` with exactly one liberty."""
        return [g for g in self.groups if g.colour == colour and g.in_atari]


@dataclass(frozen=True, slots=True)
class MoveEffect:
    """What playing `point` for `colour` does, read from the groups before the move.

    `liberties` and `group_size` describe the chain the new stone joins; `saved` counts own
    stones that were in atari and have two or more liberties afterwards (by extending or by
    capturing an attacker); `ataris` counts opponent stones left with one liberty.
    """

    point: int
    colour: int
    captured: int
    liberties: int
    group_size: int
    saved: int
    ataris: int
    shored: int
    extends_atari: bool
    first_line_rescue: bool


def move_effect(groups: BoardGroups, point: int, colour: int) -> MoveEffect:
    """The tactical effect of `colour` playing at the empty `point` (legality not checked)."""
    nbrs = groups.geometry.neighbours
    cells = groups.cells
    adjacent = groups.adjacent_groups(point)
    own = [g for g in adjacent if g.colour == colour]
    enemy = [g for g in adjacent if g.colour != colour]
    captured_groups = [g for g in enemy if g.liberties == {point}]
    stones: set[int] = {point}
    liberties: set[int] = {q for q in nbrs[point] if cells[q] == EMPTY}
    for g in own:
        stones |= g.stones
        liberties |= g.liberties
    liberties.discard(point)
    captured = 0
    freed: set[int] = set()
    for g in captured_groups:
        captured += len(g.stones)
        freed |= g.stones
    if freed:
        for q in freed:
            if any(r in stones for r in nbrs[q]):
                liberties.add(q)
    new_libs = len(liberties)
    saved = 0
    extends_atari = False
    first_line_rescue = False
    line = groups.geometry.line
    for g in own:
        if g.in_atari:
            extends_atari = True
            if new_libs >= 2:
                saved += len(g.stones)
            if all(line[s] == 0 for s in g.stones):
                first_line_rescue = True
    if freed:
        rescued: set[int] = set()
        for q in freed:
            for r in nbrs[q]:
                index = groups.label[r]
                if index < 0 or index in rescued:
                    continue
                g = groups.groups[index]
                if g.colour == colour and g.in_atari and r not in stones:
                    rescued.add(index)
                    saved += len(g.stones)
                    if all(line[s] == 0 for s in g.stones):
                        first_line_rescue = True
    ataris = 0
    if new_libs >= 1:
        for g in enemy:
            if len(g.liberties) == 2 and g not in captured_groups:
                ataris += len(g.stones)
    shored = 0
    if new_libs >= 3:
        shored = sum(len(g.stones) for g in own if len(g.liberties) == 2)
    return MoveEffect(
        point=point,
        colour=colour,
        captured=captured,
        liberties=new_libs,
        group_size=len(stones),
        saved=saved,
        ataris=ataris,
        shored=shored,
        extends_atari=extends_atari,
        first_line_rescue=first_line_rescue,
    )


def is_own_eye(cells: Sequence[int], size: int, point: int, colour: int) -> bool:
    """A point a sensible player never fills: an empty point surrounded by its own stones.

    All orthogonal neighbours are `colour`; of the diagonals, the opponent holds none on the
    edge and at most one in the centre (otherwise it is a false eye).
    """
    if cells[point] != EMPTY:
        return False
    geo = geometry(size)
    if any(cells[q] != colour for q in geo.neighbours[point]):
        return False
    diagonals = geo.diagonals[point]
    enemy = sum(1 for q in diagonals if cells[q] == -colour)
    return enemy == 0 if len(diagonals) < 4 else enemy <= 1


def region_owners(cells: Sequence[int], size: int) -> tuple[list[int], list[int]]:
    """Tromp-Taylor regions: for each empty point, the colour its region touches alone.

    Returns (owner, region_size): owner is BLACK/WHITE for a region bordered only by that
    colour, 0 for a neutral region (touching both or neither) and for stones.
    """
    nbrs = geometry(size).neighbours
    n = size * size
    owner = [0] * n
    region_size = [0] * n
    seen = [False] * n
    for start in range(n):
        if cells[start] != EMPTY or seen[start]:
            continue
        seen[start] = True
        stack = [start]
        region = [start]
        touches = 0  # bit 1: black, bit 2: white
        while stack:
            p = stack.pop()
            for q in nbrs[p]:
                cq = cells[q]
                if cq == EMPTY:
                    if not seen[q]:
                        seen[q] = True
                        stack.append(q)
                        region.append(q)
                elif cq == BLACK:
                    touches |= 1
                else:
                    touches |= 2
        colour = BLACK if touches == 1 else WHITE if touches == 2 else 0
        for p in region:
            owner[p] = colour
            region_size[p] = len(region)
    return owner, region_size


def crude_estimate(cells: Sequence[int], size: int, komi: float, reach: int = 3) -> float:
    """A beginner's count: stones plus the empty points nearer to one colour (black - white - komi).

    Each empty point within `reach` (Manhattan) of a stone belongs to the colour whose stones
    are strictly nearest; ties and far points count for nobody. Dead stones are counted as
    alive and unsettled areas as settled, which is exactly why it misleads.
    """
    nbrs = geometry(size).neighbours
    n = size * size
    distance = [reach + 1] * n
    owner = [0] * n
    frontier: list[int] = []
    score = 0.0
    for p, c in enumerate(cells):
        if c != EMPTY:
            distance[p] = 0
            owner[p] = c
            frontier.append(p)
            score += c
    step = 0
    while frontier and step < reach:
        step += 1
        reached: dict[int, int] = {}
        for p in frontier:
            for q in nbrs[p]:
                if distance[q] < step:
                    continue
                if q in reached:
                    if reached[q] != owner[p]:
                        reached[q] = 0
                else:
                    reached[q] = owner[p]
        frontier = []
        for q, colour in reached.items():
            distance[q] = step
            owner[q] = colour
            if colour != 0:
                score += colour
                frontier.append(q)
    return score - komi


class _SimBoard:
    """A bare board for reading sequences (ladders): stones, captures, no ko, no history."""

    __slots__ = ("cells", "nbrs")

    def __init__(self, cells: list[int], size: int) -> None:
        self.cells = cells
        self.nbrs = geometry(size).neighbours

    def copy(self) -> _SimBoard:
        clone = _SimBoard.__new__(_SimBoard)
        clone.cells = self.cells[:]
        clone.nbrs = self.nbrs
        return clone

    def chain(self, p: int) -> tuple[set[int], set[int]]:
        """Stones and liberties of the chain at p."""
        cells = self.cells
        colour = cells[p]
        stones = {p}
        liberties: set[int] = set()
        stack = [p]
        while stack:
            s = stack.pop()
            for q in self.nbrs[s]:
                cq = cells[q]
                if cq == EMPTY:
                    liberties.add(q)
                elif cq == colour and q not in stones:
                    stones.add(q)
                    stack.append(q)
        return stones, liberties

    def play(self, p: int, colour: int) -> bool:
        """Place a stone and remove captures; False (board unchanged) if occupied or suicide."""
        cells = self.cells
        if cells[p] != EMPTY:
            return False
        cells[p] = colour
        for q in self.nbrs[p]:
            if cells[q] == -colour:
                stones, liberties = self.chain(q)
                if not liberties:
                    for s in stones:
                        cells[s] = EMPTY
        if not self.chain(p)[1]:
            cells[p] = EMPTY
            return False
        return True


LADDER_NODE_BUDGET = 2000


@dataclass
class _Reading:
    """Limits of one ladder reading: a node budget and a depth bound (a ladder runs at most
    about 2N moves; deeper lines are captures going round in a ko-like cycle)."""

    nodes: int
    depth: int


def _defender_escapes(board: _SimBoard, target: int, reading: _Reading, depth: int) -> bool:
    """Defender to move with its chain at `target` in atari: can it reach 3+ liberties?"""
    reading.nodes -= 1
    if reading.nodes <= 0 or depth > reading.depth:
        return True  # unread: assume escape (a beginner would not read further either)
    colour = board.cells[target]
    stones, liberties = board.chain(target)
    options: list[int] = list(liberties)
    # Capturing an attacking chain in atari next to the defender also gains liberties.
    for s in stones:
        for q in board.nbrs[s]:
            if board.cells[q] == -colour:
                _, enemy_libs = board.chain(q)
                if len(enemy_libs) == 1:
                    options.extend(enemy_libs)
    for move in dict.fromkeys(options):
        after = board.copy()
        if not after.play(move, colour):
            continue
        libs = len(after.chain(target)[1])
        if libs >= 3:
            return True
        if libs == 2 and not _attacker_captures(after, target, reading, depth + 1):
            return True
    return False


def _attacker_captures(board: _SimBoard, target: int, reading: _Reading, depth: int) -> bool:
    """Attacker to move, the defender chain at `target` has two liberties: does atari work?"""
    reading.nodes -= 1
    if reading.nodes <= 0 or depth > reading.depth:
        return False
    defender = board.cells[target]
    _, liberties = board.chain(target)
    for move in liberties:
        after = board.copy()
        if not after.play(move, -defender):
            continue
        if after.cells[target] == EMPTY:
            return True
        _, libs = after.chain(target)
        if len(libs) != 1:
            continue
        if not _defender_escapes(after, target, reading, depth + 1):
            return True
    return False


def _reading(size: int) -> _Reading:
    return _Reading(nodes=LADDER_NODE_BUDGET, depth=4 * size)


def ladder_captures(cells: Sequence[int], size: int, target: int) -> bool:
    """Is the chain at `target` (exactly two liberties, attacker to move) caught in a ladder?

    The attacker keeps giving atari; the defender extends or captures an attacking chain
    in atari. True when every defence ends with one liberty or fewer. Lines longer than
    4N moves or beyond `LADDER_NODE_BUDGET` positions count as escapes.
    """
    board = _SimBoard(list(cells), size)
    if board.cells[target] == EMPTY or len(board.chain(target)[1]) != 2:
        return False
    return _attacker_captures(board, target, _reading(size), 0)


def extension_is_ladder(cells: Sequence[int], size: int, point: int, colour: int) -> bool:
    """Does extending at `point` leave `colour`'s chain with two liberties in a working ladder?"""
    board = _SimBoard(list(cells), size)
    if not board.play(point, colour):
        return False
    if len(board.chain(point)[1]) != 2:
        return False
    return _attacker_captures(board, point, _reading(size), 0)
