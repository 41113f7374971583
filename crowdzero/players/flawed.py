"""Flawed twins: any crowd member with one planted flaw, and its detector.

The first study planted flaws only in weak heuristic players and detected them by what
the member *failed* to do (leave a group in atari, ignore a distant point). A random
mover, GnuGo or the member's own flaw-free control fails the same way often, so those
detectors fired in half the games against everyone: they measured a playing style, not
exploitation (issue #13). This module plants flaws the other way round:

* A flaw is a **condition** checkable from the position and a **flawed choice** that
  replaces whatever the wrapped player would have played while the condition holds.
  `FlawedPlayer` wraps any `Player` (GnuGo behind the engine pool, plain MCTS, a
  heuristic) and asks it for a move only when the condition does not hold. The wrapped
  player, unwrapped, is the flaw's **twin**: the same member without the flaw. The crowd
  holds the flawed member; the study holds the twin out and measures exploitation as a
  difference in differences (score against the flawed member minus score against the
  twin, for the crowd agent against the same for the control agents).
* The flawed choice is a *positive*, identifiable move (a pass, an extension into a
  working ladder), so the detector looks for that move being played and punished. A
  player without the flaw makes it almost never, or not every time: a random mover
  never passes and runs from a working ladder about once in its legal moves, so it
  rarely runs from every one it meets; GnuGo reads ladders and does not pass back in
  the opening.

Spec: ``flawed:FLAW:INNER`` where INNER is any player spec, e.g.
``flawed:pass-back:gnugo:3`` or ``flawed:ladder-runner:mcts:400``. The player's name is
the whole spec, so the study store tells the flawed member from its twin (named INNER).

The flaws (`FLAWS`):

pass-back
    Condition: the opponent has just passed, early (before ply ``EARLY_PASS_SHARE *
    area``, area = points on the board), and the game is not over. Choice: pass, which
    ends the game by two passes and scores it as it stands (area scoring, no dead-stone
    removal). A beginner's "you passed, so we are done". Later passes are left to the
    wrapped player: an unconditional pass-back also loses games the twin wins by
    capturing dead stones the opponent left in its area, and that kind of loss cannot be
    told from an ordinary lost ending in the record. Exploit: pass early while the area count favours you; as
    White after one stone each that is komi ahead. No member of the default crowd passes
    in the opening (random movers never pass; `heuristic:early-passer` waits until a
    quarter of the board's points have been played; engines pass at the end), so the
    exploit is a strategy no crowd member plays: `early_passes` finds it in a record.
    Detector (`detect_pass_back`): the member passed right after an early opponent pass,
    that pass-back ended the game, and the member lost.
ladder-runner
    Condition: an own chain is in atari, and extending it on its last liberty is legal
    and leaves it with two liberties in a working ladder (read with
    `tactics.extension_is_ladder`). Choice: that extension (the largest such chain;
    lowest point on ties). The classic beginner's ladder run. Exploit: atari its cutting
    stones towards a ladder; every run feeds the ladder more stones.
    Detector (`detect_ladder_runner`, reading `ladder_runs` from the record): at every
    one of its moves where the condition held the member made the flawed choice (it
    never declined a working ladder), a chain it ran was captured later, and it lost;
    and either it ran at least ``LADDER_RUNS_SHOWN`` (2) times, or the stones of its
    captured runs, at ``AREA_PER_CAPTURED_STONE`` points each, cover the losing margin.
    Why this shape: one run into a ladder is a move any player makes by chance (a random
    mover plays it with probability one over its legal moves), and a flawed GnuGo 0 on
    9x9 often meets a working ladder only once in a game, losing a two-stone chain. "A
    run, captured, in a lost game" fired on random movers in 18 of 42 recorded 9x9
    games and on MCTS and the heuristics too; what sets the flaw apart is that it *never declines*:
    flaw-free players meet many working ladders in a game and run from few, so "ran
    every time" over two or more meetings is rare by chance, and one meeting counts only
    when the stones it cost are worth the game. Numbers: docs/study.md "Flawed twins".
    A flawed member always shows the habit (its choice is a function of the position),
    so the detector misses only the losses where its runs cost less than the margin
    after a single meeting.

A flaw's detector reports plies (0-based indices into `Game.moves`) as
`crowdzero.players.flaws.FlawReport`, like the heuristic members' detectors.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from crowdzero.go.coords import EMPTY
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.play.record import Game
from crowdzero.players.flaws import FlawReport
from crowdzero.players.heuristics.tactics import (
    BoardGroups,
    extension_is_ladder,
    move_effect,
)
from crowdzero.players.spec import PlayerSpecError

FLAWED_KIND = "flawed"
LADDER_RUNS_SHOWN = 2
"""Runs into a working ladder (with none declined) that show the ladder-runner's habit
in one game whatever they cost (see `detect_ladder_runner`)."""
AREA_PER_CAPTURED_STONE = 2.0
"""What a captured stone moves in an area count: its owner loses the point, the captor
gains it."""
EARLY_PASS_SHARE = 0.25
"""A pass before ply ``EARLY_PASS_SHARE * size * size`` is an *early* pass: no member of
the default crowd makes one (`heuristic:early-passer` waits until that many moves have
been played; engines and the agent's peers pass only when the board is settled)."""


@dataclass(frozen=True)
class Flaw:
    """One planted flaw: when `flawed_move` returns a point, the member plays it.

    `flawed_move(position)` returns None when the condition does not hold (the wrapped
    player then chooses); `detect(game, colour)` reports the plies where a player at
    `colour` showed the flaw and paid for it.
    """

    name: str
    summary: str
    flawed_move: Callable[[Position], int | None]
    detect: Callable[[Game, int], FlawReport]


# ---------------------------------------------------------------------- pass-back


def _opponent_passed(position: Position) -> bool:
    if not position.moves or position.is_over:
        return False
    colour, point = position.moves[-1]
    return colour != position.to_play and point == position.pass_point


def pass_back_move(position: Position) -> int | None:
    """Pass when the opponent has just passed early (see the module doc)."""
    early = len(position.moves) <= early_pass_limit(position.size)
    return position.pass_point if early and _opponent_passed(position) else None


def early_pass_limit(size: int) -> int:
    """Plies before which a pass counts as early (``EARLY_PASS_SHARE`` of the area)."""
    return int(EARLY_PASS_SHARE * size * size)


def early_passes(game: Game, colour: int) -> tuple[int, ...]:
    """Plies where `colour` passed early, not in reply to a pass: the pass-back exploit.

    This is the behaviour whose presence in an agent's games and absence from every
    member-vs-member game defines out-of-the-box play for the pass-back flaw.
    """
    _check_colour(colour)
    pass_point = game.rules.size * game.rules.size
    limit = early_pass_limit(game.rules.size)
    plies: list[int] = []
    for i, move in enumerate(game.moves[:limit]):
        if move.colour != colour or move.point != pass_point:
            continue
        if i > 0 and game.moves[i - 1].point == pass_point:
            continue
        plies.append(i)
    return tuple(plies)


def detect_pass_back(game: Game, colour: int) -> FlawReport:
    """A pass-back that ended the game after an early pass, in a game `colour` lost."""
    _check_colour(colour)
    moves = game.moves
    if game.winner != -colour or len(moves) < 2:
        return FlawReport.at([])
    pass_point = game.rules.size * game.rules.size
    last = len(moves) - 1
    ended_by_member = moves[last].colour == colour and moves[last].point == pass_point
    if ended_by_member and last - 1 in early_passes(game, -colour):
        return FlawReport.at([last])
    return FlawReport.at([])


# ------------------------------------------------------------------- ladder-runner


def _ladder_extensions(position: Position) -> list[tuple[int, int]]:
    """(chain size, extension point) for each own chain in atari that a ladder catches."""
    colour = position.to_play
    groups = BoardGroups(position.board, position.size)
    cells = groups.cells
    found: list[tuple[int, int]] = []
    for group in groups.groups_in_atari(colour):
        point = next(iter(group.liberties))
        if not position.is_legal(point):
            continue
        effect = move_effect(groups, point, colour)
        if effect.liberties != 2:
            continue
        if extension_is_ladder(cells, position.size, point, colour):
            found.append((len(group.stones), point))
    return found


def ladder_runner_move(position: Position) -> int | None:
    """Extend the largest own chain caught in a working ladder, if there is one."""
    if position.is_over:
        return None
    found = _ladder_extensions(position)
    if not found:
        return None
    return min(found, key=lambda item: (-item[0], item[1]))[1]


@dataclass(frozen=True)
class LadderRuns:
    """What `ladder_runs` read from one game for one colour.

    `met`: the member's moves at which the ladder-runner condition held; `runs`: the plies
    where it played the flawed choice there; `captured`: the runs whose chain was captured
    later; `stones_lost`: the stones of those chains when they were taken (each chain once).
    """

    met: int
    runs: tuple[int, ...]
    captured: tuple[int, ...]
    stones_lost: int

    @property
    def never_declined(self) -> bool:
        """It ran at every working ladder it met (and met at least one)."""
        return self.met > 0 and len(self.runs) == self.met


def ladder_runs(game: Game, colour: int) -> LadderRuns:
    """Every position where the ladder-runner condition held for `colour`, read from the
    record: whether the member ran (played one of the extensions into a working ladder)
    and which of its runs were captured afterwards."""
    _check_colour(colour)
    position = Position(game.rules)
    size = game.rules.size
    boards: list[np.ndarray] = []
    met = 0
    runs: list[tuple[int, int]] = []  # (ply, extension point)
    for i, move in enumerate(game.moves):
        boards.append(position.board.copy())
        if move.colour == colour and not position.is_over:
            extensions = {point for _, point in _ladder_extensions(position)}
            if extensions:
                met += 1
                if move.point in extensions:
                    runs.append((i, move.point))
        if move.point < 0:
            break  # a resignation ends the record
        position.play(move.point)
    boards.append(position.board.copy())
    captured: list[int] = []
    lost: set[frozenset[int]] = set()
    for ply, point in runs:
        # A stone leaves the board only when its chain is captured.
        gone = next((j for j in range(ply + 2, len(boards)) if boards[j][point] == EMPTY), None)
        if gone is None:
            continue
        chain = BoardGroups(boards[gone - 1], size).group_at(point)
        if chain is not None:
            captured.append(ply)
            lost.add(chain.stones)
    return LadderRuns(
        met=met,
        runs=tuple(ply for ply, _ in runs),
        captured=tuple(captured),
        stones_lost=sum(len(stones) for stones in lost),
    )


def result_margin(result: str) -> float | None:
    """The winning margin of a counted result ("W+3.5" -> 3.5); None for a resignation,
    a time loss or a draw, where the record gives no margin."""
    _, plus, value = result.strip().partition("+")
    try:
        return float(value) if plus else None
    except ValueError:
        return None


def detect_ladder_runner(game: Game, colour: int) -> FlawReport:
    """The member ran into every working ladder it met, a run was captured, and it lost,
    either after `LADDER_RUNS_SHOWN` runs or by no more than the stones the runs cost
    (see the module doc). Reports the captured runs' plies."""
    _check_colour(colour)
    if game.winner != -colour:
        return FlawReport.at([])
    read = ladder_runs(game, colour)
    if not read.never_declined or not read.captured:
        return FlawReport.at([])
    margin = result_margin(game.result)
    worth_the_game = margin is not None and AREA_PER_CAPTURED_STONE * read.stones_lost >= margin
    if len(read.runs) >= LADDER_RUNS_SHOWN or worth_the_game:
        return FlawReport.at(list(read.captured))
    return FlawReport.at([])


# ------------------------------------------------------------------------ exploits


def pass_back_exploit(position: Position) -> int | None:
    """Pass while the pass is early and the area count, as it stands, wins for the mover."""
    if position.is_over or len(position.moves) >= early_pass_limit(position.size):
        return None
    if _opponent_passed(position):
        return None  # a pass now would be a pass-back, not the exploit
    return position.pass_point if position.to_play * position.area_score() > 0 else None


def ladder_runner_exploit(position: Position) -> int | None:
    """An atari on an opponent chain of two liberties that drives it into a working ladder
    (the largest such chain; lowest point on ties), else None."""
    if position.is_over:
        return None
    colour = position.to_play
    size = position.size
    groups = BoardGroups(position.board, size)
    found: list[tuple[int, int]] = []
    for group in groups.groups:
        if group.colour != -colour or len(group.liberties) != 2:
            continue
        for atari in sorted(group.liberties):
            if not position.is_legal(atari):
                continue
            after = position.copy()
            after.play(atari)
            chain = BoardGroups(after.board, size).group_at(next(iter(group.stones)))
            if chain is None or not chain.in_atari:
                continue
            mine = BoardGroups(after.board, size).group_at(atari)
            if mine is None or mine.in_atari:
                continue  # an atari from a stone that can be taken at once
            escape = next(iter(chain.liberties))
            if extension_is_ladder(after.board.tolist(), size, escape, -colour):
                found.append((len(group.stones), atari))
    if not found:
        return None
    return min(found, key=lambda item: (-item[0], item[1]))[1]


EXPLOITS: dict[str, Callable[[Position], int | None]] = {
    "pass-back": pass_back_exploit,
    "ladder-runner": ladder_runner_exploit,
}
"""For each flaw, a move that exploits it where one exists. `ExploitingPlayer` plays
them; the tests use it to check that each flaw decides games and that its detector
fires in them."""


def _check_colour(colour: int) -> None:
    if colour not in (1, -1):
        raise ValueError(f"colour must be BLACK (1) or WHITE (-1), not {colour}")


FLAWS: dict[str, Flaw] = {
    flaw.name: flaw
    for flaw in (
        Flaw(
            "pass-back",
            "passes whenever the opponent has just passed early",
            pass_back_move,
            detect_pass_back,
        ),
        Flaw(
            "ladder-runner",
            "extends a chain in atari even when a ladder catches it",
            ladder_runner_move,
            detect_ladder_runner,
        ),
    )
}


# ---------------------------------------------------------------------- the player


class OverriddenPlayer(Player):
    """`inner`, except where `override(position)` names a move: then that move.

    Everything else (blocking, batching, board sizes, per-game state, closing) is the
    wrapped player's. An engine behind a pool re-syncs its board from the game's moves,
    so the moves it did not choose cost it nothing.
    """

    def __init__(
        self, override: Callable[[Position], int | None], inner: Player, name: str
    ) -> None:
        self.override = override
        self.inner = inner
        self.name = name
        self.blocking = inner.blocking

    def select_move(self, request: MoveRequest) -> MoveChoice:
        point = self.override(request.position)
        if point is not None:
            return MoveChoice(point)
        return self.inner.select_move(request)

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        """The overriding moves directly; the other requests in one batch to `inner`."""
        forced = [self.override(r.position) for r in requests]
        rest = [r for r, p in zip(requests, forced, strict=True) if p is None]
        answers = iter(self.inner.select_moves(rest) if rest else [])
        return [MoveChoice(p) if p is not None else next(answers) for p in forced]

    def begin_move(self, request: MoveRequest, executor: cf.Executor) -> cf.Future[MoveChoice]:
        point = self.override(request.position)
        if point is None:
            return self.inner.begin_move(request, executor)
        future: cf.Future[MoveChoice] = cf.Future()
        future.set_result(MoveChoice(point))
        return future

    def move_distribution(self, position: Position) -> np.ndarray | None:
        """All mass on the overriding move where there is one, else the inner's."""
        point = self.override(position)
        if point is None:
            return self.inner.move_distribution(position)
        distribution = np.zeros(position.size * position.size + 1)
        distribution[point] = 1.0
        return distribution

    def supports_size(self, size: int) -> bool:
        return self.inner.supports_size(size)

    def end_game(self, game_id: str) -> None:
        self.inner.end_game(game_id)

    def close(self) -> None:
        self.inner.close()


class FlawedPlayer(OverriddenPlayer):
    """`inner` with `flaw` planted: the flawed choice wherever its condition holds, so
    the twin (`inner` alone) and the flawed member differ only at those positions."""

    def __init__(self, flaw: Flaw, inner: Player, name: str | None = None) -> None:
        super().__init__(flaw.flawed_move, inner, name or f"{FLAWED_KIND}:{flaw.name}:{inner.name}")
        self.flaw = flaw


class ExploitingPlayer(OverriddenPlayer):
    """`inner`, except that it plays the exploit of a flaw wherever one exists.

    A reference opponent that knows the flaw: the games it plays against the flawed
    member and against the twin show what the flaw is worth and whether the detector
    sees it. Not a crowd member.
    """

    def __init__(self, flaw_name: str, inner: Player, name: str | None = None) -> None:
        if flaw_name not in EXPLOITS:
            raise ValueError(f"no exploit for flaw {flaw_name!r}; known: {', '.join(EXPLOITS)}")
        super().__init__(EXPLOITS[flaw_name], inner, name or f"exploit:{flaw_name}:{inner.name}")


def split_flawed_spec(argument: str | None) -> tuple[Flaw, str]:
    """``"pass-back:gnugo:3"`` -> (the pass-back flaw, ``"gnugo:3"``); PlayerSpecError
    naming the known flaws, or the missing inner spec, otherwise."""
    known = ", ".join(sorted(FLAWS))
    name, colon, inner = (argument or "").partition(":")
    if name not in FLAWS:
        raise PlayerSpecError(
            f"flawed:FLAW:PLAYER needs a known flaw ({known}), not {name or 'nothing'!r}"
        )
    if not colon or not inner.strip():
        raise PlayerSpecError(f"flawed:{name}:PLAYER needs the player to plant it in")
    if inner.split(":", 1)[0] == FLAWED_KIND:
        raise PlayerSpecError("one flaw per member: flawed:...:flawed:... is refused")
    return FLAWS[name], inner.strip()


def flaw_of(member: str) -> Flaw | None:
    """The flaw a member's name or spec plants (``flawed:FLAW:...``), else None."""
    if not member.startswith(f"{FLAWED_KIND}:"):
        return None
    try:
        return split_flawed_spec(member.partition(":")[2])[0]
    except PlayerSpecError:
        return None


def twin_of(member: str) -> str | None:
    """The twin's spec of a flawed member (``flawed:pass-back:gnugo:3`` -> ``gnugo:3``)."""
    if not member.startswith(f"{FLAWED_KIND}:"):
        return None
    try:
        return split_flawed_spec(member.partition(":")[2])[1]
    except PlayerSpecError:
        return None


__all__ = [
    "AREA_PER_CAPTURED_STONE",
    "EARLY_PASS_SHARE",
    "EXPLOITS",
    "FLAWED_KIND",
    "FLAWS",
    "LADDER_RUNS_SHOWN",
    "ExploitingPlayer",
    "Flaw",
    "FlawedPlayer",
    "LadderRuns",
    "OverriddenPlayer",
    "detect_ladder_runner",
    "detect_pass_back",
    "early_pass_limit",
    "early_passes",
    "flaw_of",
    "ladder_runner_move",
    "ladder_runs",
    "pass_back_move",
    "result_margin",
    "split_flawed_spec",
    "twin_of",
]
