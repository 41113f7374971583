"""Did a heuristic member's planted weakness show, and was it punished, in a finished game?

The study asks whether the agent learned to exploit each member's weakness. A win rate
alone cannot say *why* the agent won, so each member has a detector that replays a game
and reports the plies (0-based indices into `Game.moves`) where that member's flaw was
triggered **and** cost it something. Each definition below is exact, so a reader can
check a reported ply by hand:

greedy (`detect_greedy`)
    At ply i the member captured c stones at q, and within the next `GREEDY_WINDOW` plies
    (i+1 .. i+3, i.e. the opponent's next two moves) the opponent captured more than c of
    its stones, among them the capturing stone q (a snapback) or stones of a chain that
    was already in atari before ply i (the bigger group it let die to capture).
local (`detect_local`)
    At ply i the member played within two lines (Chebyshev <= 2) of the opponent's last
    move o while an urgent point lay farther than two lines from o: the last liberty of its
    own chain in atari where extending gives two or more liberties, or the last liberty of
    an opponent chain in atari (a legal capture). It neither saved that chain nor made
    that capture (and its own move captured or rescued nothing), and the opponent cashed
    in at ply i+1: it captured the own chain, or its own chain was no longer in atari.
edge-neglect (`detect_edge_neglect`)
    Before ply i an own chain lying entirely on the first line was in atari and could be
    rescued (a legal extension to two or more liberties, or a legal capture of an
    adjacent attacker in atari); after ply i it was still in atari, and the opponent
    captured it at ply i+1.
ladder-blind (`detect_ladder_blind`)
    At ply i the member extended on the last liberty of its own chain in atari, leaving
    the chain with exactly two liberties caught in a working ladder (read with
    `tactics.ladder_captures`, opponent to move), and the stone it played was captured
    later in the game.
early-passer (`detect_early_passer`)
    The member passed at ply i while the crude count (`tactics.crude_estimate`, komi
    included) had it level or ahead, the opponent played on at ply i+1 (a board move, not
    a pass back), and the member lost the game. "Any pass in a lost game" would also
    catch every loser's final pass; requiring the opponent to use the pass and the count
    to have misled the member keeps the detector to premature passes.

`FLAW_DETECTORS` maps each member's player name to its detector.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crowdzero.go.coords import EMPTY, RESIGN
from crowdzero.go.position import Position
from crowdzero.play.record import Game
from crowdzero.players.heuristics.tactics import (
    BoardGroups,
    Group,
    chebyshev,
    crude_estimate,
    geometry,
    ladder_captures,
    move_effect,
)

GREEDY_WINDOW = 3
LOCAL_REACH = 2


@dataclass(frozen=True)
class FlawReport:
    """Whether a member's flaw was triggered and punished, and at which plies (0-based)."""

    triggered: bool
    count: int
    plies: tuple[int, ...]

    @classmethod
    def at(cls, plies: list[int]) -> FlawReport:
        ordered = tuple(sorted(set(plies)))
        return cls(bool(ordered), len(ordered), ordered)


Detector = Callable[[Game, int], FlawReport]


@dataclass(frozen=True)
class _Ply:
    """One move of a replayed game with the positions around it."""

    index: int
    colour: int
    point: int
    before: Position
    after: Position

    @property
    def captured(self) -> int:
        return self.after.captures[self.colour] - self.before.captures[self.colour]

    @property
    def on_board(self) -> bool:
        return 0 <= self.point < self.before.size * self.before.size


def _replay(game: Game) -> list[_Ply]:
    """Every ply with the position before and after it (raises IllegalMove if illegal)."""
    position = Position(game.rules)
    plies: list[_Ply] = []
    for index, move in enumerate(game.moves):
        before = position.copy()
        if move.point == RESIGN:
            position.resign()
        else:
            position.play(move.point)
        plies.append(_Ply(index, move.colour, move.point, before, position.copy()))
    return plies


def _check_colour(colour: int) -> None:
    if colour not in (1, -1):
        raise ValueError(f"colour must be BLACK (1) or WHITE (-1), not {colour}")


def _captured_between(before: Position, after: Position, stones: frozenset[int]) -> bool:
    """Were all of `stones` (one colour) on the board before and gone after?"""
    return all(before.board[s] != EMPTY and after.board[s] == EMPTY for s in stones)


def _removed(ply: _Ply, colour: int) -> set[int]:
    """Points where `colour` had a stone before `ply` and none after (its captures)."""
    before, after = ply.before.board, ply.after.board
    return {int(q) for q in ((before == colour) & (after == EMPTY)).nonzero()[0]}


def _still_in_atari(position: Position, group: Group) -> bool:
    """Is the chain holding `group`'s first stone (if still there) in atari?"""
    stone = next(iter(group.stones))
    if position.board[stone] != group.colour:
        return False
    chain = BoardGroups(position.board, position.size).group_at(stone)
    return chain is not None and chain.in_atari


def _rescues(position: Position, groups: BoardGroups, group: Group) -> list[int]:
    """Legal moves that take `group` (in atari, side to move) to two or more liberties."""
    points: list[int] = []
    liberty = next(iter(group.liberties))
    if position.is_legal(liberty) and move_effect(groups, liberty, group.colour).liberties >= 2:
        points.append(liberty)
    nbrs = geometry(position.size).neighbours
    for stone in group.stones:
        for q in nbrs[stone]:
            enemy = groups.group_at(q)
            if enemy is not None and enemy.colour != group.colour and enemy.in_atari:
                capture = next(iter(enemy.liberties))
                if capture not in points and position.is_legal(capture):
                    points.append(capture)
    return points


def detect_greedy(game: Game, colour: int) -> FlawReport:
    """Captures punished by a bigger capture within three plies (see the module doc)."""
    _check_colour(colour)
    plies = _replay(game)
    hits: list[int] = []
    for ply in plies:
        if ply.colour != colour or not ply.on_board or ply.captured == 0:
            continue
        groups = BoardGroups(ply.before.board, ply.before.size)
        endangered = {s for g in groups.groups_in_atari(colour) for s in g.stones}
        lost: set[int] = set()
        for later in plies[ply.index + 1 : ply.index + 1 + GREEDY_WINDOW]:
            if later.colour == -colour:
                lost |= _removed(later, colour)
        if len(lost) > ply.captured and (ply.point in lost or lost & endangered):
            hits.append(ply.index)
    return FlawReport.at(hits)


def detect_local(game: Game, colour: int) -> FlawReport:
    """Local answers that ignored a distant urgent point the opponent then used."""
    _check_colour(colour)
    plies = _replay(game)
    hits: list[int] = []
    for ply in plies[1:-1]:
        previous = plies[ply.index - 1]
        reply = plies[ply.index + 1]
        if ply.colour != colour or not ply.on_board or not previous.on_board:
            continue
        size = ply.before.size
        last = previous.point
        if chebyshev(ply.point, last, size) > LOCAL_REACH:
            continue
        groups = BoardGroups(ply.before.board, size)
        played = move_effect(groups, ply.point, colour)
        if played.captured or played.saved:
            continue  # the local answer was itself urgent
        for group in groups.groups:
            if not group.in_atari:
                continue
            point = next(iter(group.liberties))
            if chebyshev(point, last, size) <= LOCAL_REACH or not ply.before.is_legal(point):
                continue
            if group.colour == colour:
                if move_effect(groups, point, colour).liberties < 2:
                    continue
                punished = _still_in_atari(ply.after, group) and _captured_between(
                    reply.before, reply.after, group.stones
                )
            else:
                stone = next(iter(group.stones))
                punished = (
                    _still_in_atari(ply.after, group)
                    and reply.after.board[stone] == group.colour
                    and not _still_in_atari(reply.after, group)
                )
            if punished:
                hits.append(ply.index)
                break
    return FlawReport.at(hits)


def detect_edge_neglect(game: Game, colour: int) -> FlawReport:
    """First-line chains in atari left unrescued and captured next ply."""
    _check_colour(colour)
    plies = _replay(game)
    hits: list[int] = []
    for ply in plies[:-1]:
        if ply.colour != colour:
            continue
        reply = plies[ply.index + 1]
        size = ply.before.size
        line = geometry(size).line
        groups = BoardGroups(ply.before.board, size)
        for group in groups.groups_in_atari(colour):
            if any(line[s] != 0 for s in group.stones):
                continue
            if not _rescues(ply.before, groups, group):
                continue
            if _still_in_atari(ply.after, group) and _captured_between(
                reply.before, reply.after, group.stones
            ):
                hits.append(ply.index)
                break
    return FlawReport.at(hits)


def detect_ladder_blind(game: Game, colour: int) -> FlawReport:
    """Extensions into a working ladder whose stone was later captured."""
    _check_colour(colour)
    plies = _replay(game)
    hits: list[int] = []
    for ply in plies:
        if ply.colour != colour or not ply.on_board:
            continue
        size = ply.before.size
        groups = BoardGroups(ply.before.board, size)
        extended = any(g.colour == colour and g.in_atari for g in groups.adjacent_groups(ply.point))
        if not extended:
            continue
        after = ply.after.board.tolist()
        chain = BoardGroups(after, size).group_at(ply.point)
        if chain is None or len(chain.liberties) != 2:
            continue
        if not ladder_captures(after, size, ply.point):
            continue
        for later in plies[ply.index + 1 :]:
            if later.colour == -colour and later.after.board[ply.point] == EMPTY:
                if later.before.board[ply.point] == colour:
                    hits.append(ply.index)
                break
    return FlawReport.at(hits)


def detect_early_passer(game: Game, colour: int) -> FlawReport:
    """Passes while its count led, answered by the opponent playing on, in a lost game."""
    _check_colour(colour)
    if game.winner != -colour:
        return FlawReport.at([])
    plies = _replay(game)
    hits: list[int] = []
    for ply in plies[:-1]:
        if ply.colour != colour or ply.point != ply.before.pass_point:
            continue
        if not plies[ply.index + 1].on_board:
            continue
        board = ply.before.board.tolist()
        if colour * crude_estimate(board, ply.before.size, ply.before.komi) >= 0:
            hits.append(ply.index)
    return FlawReport.at(hits)


FLAW_DETECTORS: dict[str, Detector] = {
    "heuristic:greedy": detect_greedy,
    "heuristic:local": detect_local,
    "heuristic:edge-neglect": detect_edge_neglect,
    "heuristic:ladder-blind": detect_ladder_blind,
    "heuristic:early-passer": detect_early_passer,
}


def detect(member: str, game: Game, colour: int) -> FlawReport:
    """Run `member`'s detector ("heuristic:greedy" or just "greedy") on its seat `colour`."""
    key = member if member in FLAW_DETECTORS else f"heuristic:{member}"
    try:
        detector = FLAW_DETECTORS[key]
    except KeyError:
        known = ", ".join(FLAW_DETECTORS)
        raise ValueError(f"no flaw detector for {member!r}; known: {known}") from None
    return detector(game, colour)
