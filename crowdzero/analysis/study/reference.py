"""KataGo as the study's strong reference: which out-of-the-box moves are sound, and who
won the games stopped at the move cap.

A move no crowd member would play (`measure.box_moves`) is either a discovery or a
mistake; the crowd's own players cannot tell which, since the move is outside all of
them. KataGo's network (`crowdzero.players.katago_reference`), far stronger than every
agent and member on 9x9, can. Each out-of-the-box move, and as a baseline a random
sample of the agent's other moves, is judged by how much the mover gives away against
KataGo's favourite move in that position (the top of its policy):

    points_lost  = lead(after favourite) - lead(after move)        score lead, mover's view
    winrate_lost = winrate(after favourite) - winrate(after move)   win probability, same

Both sides of each difference are positions with the opponent to move, evaluated by the
network and turned round (a move that ends the game is scored exactly), so whatever
the raw network gets wrong about whose turn it is cancels. Comparing with its estimate
of the position *before* the move does not: in a position it rates 89 points up it
rated the winning capture a 13-point loss. Each judgement is two or three network
evaluations, no search: cheap enough for every such move of a study.

**A blunder** loses at least `BLUNDER_POINTS` (3) points or `BLUNDER_WINRATE` (0.15) win
probability. Why these: a 9x9 game between strong players is decided by a few points
(KataGo puts the empty board within about 1.5 points of even at komi 7.5), so giving
away 3 is the kind of loss that turns a close game; the win-probability test catches
close positions, where a smaller loss of points still swings the game, while the points
test still sees a bad move in a decided position, where the win probability barely
moves. Below about 2 points the raw network's own noise (its short-term score error is
0.3-0.6 points in the opening) would be called a blunder. Out-of-the-box *play* is then
an out-of-the-box move that is not a blunder (`ReferenceCheck.sound_share`).

**Adjudication.** A study game that reaches the move cap is scored by counting the
unfinished board (Tromp-Taylor), which counts dead stones as alive. Where KataGo is
there, such a game's winner is KataGo's instead (the sign of its score lead), the count
kept in the record's metadata (``counted_result``), and the report says how many were
adjudicated and how many changed winner.

The reference is optional: without KataGo installed (or with it switched off) the study
runs as before, with a note that says what was left out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np

from crowdzero.analysis.study import metrics as m
from crowdzero.analysis.study.collect import AgentMove
from crowdzero.analysis.study.measure import BoxMoves
from crowdzero.analysis.study.results import Claim, ReferenceCheck, StudyResults
from crowdzero.go.coords import BLACK
from crowdzero.go.position import Position
from crowdzero.play.record import Game
from crowdzero.players.engines import EngineUnavailable
from crowdzero.players.katago_reference import (
    Adjudication,
    KataGoEvaluation,
    KataGoReference,
    KataGoReferenceError,
)

log = logging.getLogger(__name__)

BLUNDER_POINTS = 3.0
"""A move that gives away this many points of KataGo's score lead is a blunder."""

BLUNDER_WINRATE = 0.15
"""A move that gives away this much of KataGo's win probability is a blunder."""

MIN_USUAL_SAMPLE = 30
"""The agent's ordinary moves judged as a baseline: as many as its out-of-the-box moves,
and at least this many (where it has them), so the baseline is never a handful."""

MAX_FAILURES = 10
"""Positions KataGo may fail on before the check gives up on it (a broken install)."""


class Reference(Protocol):
    """What the study asks of `KataGoReference` (tests give it a stand-in)."""

    def evaluate(self, position: Position) -> KataGoEvaluation: ...

    def adjudicate(self, position: Position) -> Adjudication: ...


@dataclass(frozen=True)
class BlunderRule:
    """When a move is a blunder: it loses `points` of score lead or `winrate` of win
    probability, or more (see the module docstring)."""

    points: float = BLUNDER_POINTS
    winrate: float = BLUNDER_WINRATE

    def __post_init__(self) -> None:
        if not (self.points > 0 and 0 < self.winrate <= 1):
            raise ValueError(
                f"a blunder needs points > 0 and 0 < winrate <= 1, not {self.points}, "
                f"{self.winrate}"
            )

    def is_blunder(self, points_lost: float, winrate_lost: float) -> bool:
        return points_lost >= self.points or winrate_lost >= self.winrate


@dataclass(frozen=True)
class MoveVerdict:
    """KataGo's view of one move: its prior for the move, what the move gave away (a
    negative loss is a gain over KataGo's expectation), and whether that is a blunder."""

    prior: float
    points_lost: float
    winrate_lost: float
    blunder: bool


def _after_move(reference: Reference, position: Position, point: int) -> tuple[float, float]:
    """(score lead, win probability) for the side to move in `position` once it has
    played `point`: KataGo's view of the opponent's turn, turned round; a move that ends
    the game is scored exactly."""
    after = position.copy()
    after.play(point)
    if after.is_over:  # two passes: the count is the result, no estimate needed
        margin = after.area_score() * (1 if position.to_play == BLACK else -1)
        return margin, 1.0 if margin > 0 else 0.0 if margin < 0 else 0.5
    reply = reference.evaluate(after)
    return -reply.score_lead, 1.0 - reply.winrate


def judge_move(
    reference: Reference, position: Position, point: int, rule: BlunderRule
) -> MoveVerdict:
    """How much the side to move gives away by playing `point` rather than KataGo's
    favourite move (the top of its policy), both judged after the move."""
    before = reference.evaluate(position)
    favourite = int(np.argmax(before.policy))
    lead, winrate = _after_move(reference, position, point)
    if favourite == point:
        best_lead, best_winrate = lead, winrate
    else:
        best_lead, best_winrate = _after_move(reference, position, favourite)
    points_lost = best_lead - lead
    winrate_lost = best_winrate - winrate
    return MoveVerdict(
        prior=float(before.policy[point]),
        points_lost=points_lost,
        winrate_lost=winrate_lost,
        blunder=rule.is_blunder(points_lost, winrate_lost),
    )


def _judged(
    reference: Reference, moves: Sequence[AgentMove], rule: BlunderRule, failures: list[str]
) -> list[tuple[AgentMove, MoveVerdict]]:
    out = []
    for move in moves:
        try:
            out.append((move, judge_move(reference, move.position, move.point, rule)))
        except KataGoReferenceError as exc:
            failures.append(str(exc))
            if len(failures) > MAX_FAILURES:
                raise
    return out


def _by_game(judged: Sequence[tuple[AgentMove, MoveVerdict]]) -> list[list[float]]:
    games: dict[int, list[float]] = {}
    for move, verdict in judged:
        games.setdefault(move.game, []).append(verdict.points_lost)
    return list(games.values())


def reference_check(
    box: BoxMoves,
    reference: Reference,
    rule: BlunderRule = BlunderRule(),
    *,
    adjudicated: tuple[int, int] = (0, 0),
    seed: int = 0,
) -> tuple[ReferenceCheck, list[str]]:
    """KataGo's verdict on the out-of-the-box moves of `box` and on a sample of the
    agent's other moves; `adjudicated` is (games adjudicated, winners changed). Returns
    the check and notes on positions KataGo could not judge (KataGoReferenceError after
    `MAX_FAILURES` of them)."""
    novel = [move for move, flag in zip(box.moves, box.novel, strict=True) if flag]
    usual = [move for move, flag in zip(box.moves, box.novel, strict=True) if not flag]
    rng = np.random.default_rng(seed)
    size = min(len(usual), max(len(novel), MIN_USUAL_SAMPLE))
    usual = [usual[i] for i in sorted(rng.choice(len(usual), size=size, replace=False))]
    failures: list[str] = []
    judged_novel = _judged(reference, novel, rule, failures)
    judged_usual = _judged(reference, usual, rule, failures)

    def games(judged: Sequence[tuple[AgentMove, MoveVerdict]]) -> int:
        return len({move.game for move, _ in judged})

    def blunders(judged: Sequence[tuple[AgentMove, MoveVerdict]]) -> m.Estimate:
        count = sum(verdict.blunder for _, verdict in judged)
        return m.wilson(count, len(judged), games=games(judged))

    sound = sum(not verdict.blunder for _, verdict in judged_novel)
    examined = len(box.moves) - len(failures)
    all_games = len({move.game for move in box.moves})
    check = ReferenceCheck(
        sound_share=m.wilson(sound, max(examined, sound), games=all_games),
        novel_blunders=blunders(judged_novel),
        usual_blunders=blunders(judged_usual),
        novel_points_lost=m.bootstrap_mean(_by_game(judged_novel), seed=seed),
        usual_points_lost=m.bootstrap_mean(_by_game(judged_usual), seed=seed),
        blunder_points=rule.points,
        blunder_winrate=rule.winrate,
        adjudicated=adjudicated[0],
        flipped=adjudicated[1],
    )
    notes = []
    if failures:
        notes.append(f"KataGo could not judge {len(failures)} moves (first: {failures[0]})")
    return check, notes


# -- adjudication ----------------------------------------------------------------------


def is_capped(game: Game) -> bool:
    """Whether the game stopped at the move cap rather than ending (the runner's mark)."""
    return game.metadata.get("capped") == "True" and not game.result.upper().endswith("+R")


def adjudicated_game(game: Game, verdict: Adjudication) -> Game:
    """`game` with KataGo's result; the board count it had stays in the metadata."""
    metadata = {**game.metadata, "adjudicated": "katago", "counted_result": game.result}
    return replace(game, result=verdict.result_string(), winner=verdict.winner, metadata=metadata)


@dataclass(frozen=True)
class Adjudicated:
    """The study's games with the capped ones scored by KataGo, and per agent label how
    many were adjudicated and how many of those changed winner."""

    games: dict[str, dict[str, tuple[Game, ...]]]
    counts: dict[str, tuple[int, int]]
    notes: tuple[str, ...]


def adjudicate_games(
    games: Mapping[str, Mapping[str, Sequence[Game]]], reference: Reference
) -> Adjudicated:
    """Every capped game of every agent's table scored by KataGo's lead (a game two
    agents share, head to head, is asked about once). A game KataGo cannot judge keeps
    its count, and a note says so."""
    verdicts: dict[tuple[object, ...], Adjudication | None] = {}
    failures: list[str] = []
    out: dict[str, dict[str, tuple[Game, ...]]] = {}
    counts: dict[str, tuple[int, int]] = {}
    for label, table in games.items():
        done = flipped = 0
        out[label] = {}
        for opponent, listed in table.items():
            kept = []
            for game in listed:
                if not is_capped(game):
                    kept.append(game)
                    continue
                key = (
                    game.rules,
                    game.black,
                    game.white,
                    tuple((v.colour, v.point) for v in game.moves),
                )
                if key not in verdicts:
                    try:
                        verdicts[key] = reference.adjudicate(game.replay())
                    except KataGoReferenceError as exc:
                        verdicts[key] = None
                        failures.append(str(exc))
                verdict = verdicts[key]
                if verdict is None:
                    kept.append(game)
                    continue
                done += 1
                flipped += verdict.winner != game.winner
                kept.append(adjudicated_game(game, verdict))
            out[label][opponent] = tuple(kept)
        counts[label] = (done, flipped)
    notes = []
    if failures:
        notes.append(
            f"KataGo could not adjudicate {len(failures)} capped games (first: {failures[0]}); "
            "they keep their board count"
        )
    return Adjudicated(out, counts, tuple(notes))


# -- opening it ------------------------------------------------------------------------


def open_reference(enabled: bool, board_size: int) -> tuple[KataGoReference | None, list[str]]:
    """The KataGo reference for a study on `board_size`, or None and the note that says
    what the study leaves out without it. Starts no process (the first question does)."""
    left_out = (
        "out-of-the-box moves are not checked for blunders and games stopped at the move "
        "cap keep their count of the unfinished board"
    )
    if not enabled:
        return None, [f"the KataGo reference is switched off: {left_out}"]
    try:
        reference = KataGoReference()
    except EngineUnavailable as exc:
        return None, [f"no KataGo reference ({exc}): {left_out}"]
    if not reference.plays_size(board_size):
        refusal = reference.config.size_refusal(board_size)
        reference.close()
        return None, [f"no KataGo reference ({refusal}): {left_out}"]
    return reference, []


# -- claims ----------------------------------------------------------------------------


def reference_claims(results: StudyResults) -> list[Claim]:
    """What KataGo's verdicts let the study claim about out-of-the-box play."""
    crowd = results.reference.get("crowd")
    if crowd is None:
        return []
    out = []
    for other in ("imitation", "self"):
        theirs = results.reference.get(other)
        if theirs is None:
            continue
        verdict = m.compare(crowd.sound_share, theirs.sound_share, "greater")
        out.append(
            Claim(
                "out-of-the-box (KataGo)",
                f"the crowd agent plays more moves no crowd member would play that KataGo "
                f"does not call blunders than the {other} agent",
                verdict,
                f"{crowd.sound_share} vs {theirs.sound_share}",
            )
        )
    out.append(
        Claim(
            "out-of-the-box (KataGo)",
            "KataGo calls the crowd agent's out-of-the-box moves blunders more often than "
            "its other moves",
            m.compare(crowd.novel_blunders, crowd.usual_blunders, "greater"),
            f"{crowd.novel_blunders} vs {crowd.usual_blunders}",
        )
    )
    return out


__all__ = [
    "BLUNDER_POINTS",
    "BLUNDER_WINRATE",
    "Adjudicated",
    "BlunderRule",
    "MoveVerdict",
    "Reference",
    "adjudicate_games",
    "adjudicated_game",
    "is_capped",
    "judge_move",
    "open_reference",
    "reference_check",
    "reference_claims",
]
