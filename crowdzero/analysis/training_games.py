"""How the learning agent fared in its own training games, opponent by opponent, stretch
by stretch of training.

The evaluation curve of a run (noise off, a fixed opponent, at a few marks) is a handful
of points; the run's store holds thousands of games it played while learning, each tagged
with the step of the weights that played it. Binning those by the marks' steps gives a
second, independent view of progress against every crowd member: it is how the dip of
crowd-9x9-v2's evaluation curve at 60-150 minutes was checked against the training games
(which rose steadily over the same stretch). Training games are played with exploration
and mostly cheap searches, so their scores are lower than the evaluation's and compare
only with each other.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from crowdzero.analysis.arena import MatchResult
from crowdzero.go.coords import BLACK
from crowdzero.play.record import Game


@dataclass(frozen=True)
class Stretch:
    """Training between two weight steps: [first_step, end_step)."""

    first_step: int
    end_step: int | None  # None: open-ended (games after the last edge)
    label: str


def stretches(edges: Sequence[int], labels: Sequence[str] | None = None) -> list[Stretch]:
    """The stretches cut by increasing step `edges`: [0, e1), [e1, e2), ..., [e_last, end).

    `labels` names the first len(edges) stretches (for instance the marks' minutes); the
    open-ended last one is called 'after'.
    """
    if any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"stretch edges must increase, got {list(edges)}")
    if labels is not None and len(labels) != len(edges):
        raise ValueError(f"{len(edges)} edges need {len(edges)} labels, got {len(labels)}")
    names = list(labels) if labels is not None else [f"<{e}" for e in edges]
    starts = [0, *edges]
    out = [
        Stretch(start, end, name) for start, end, name in zip(starts, edges, names, strict=False)
    ]
    out.append(Stretch(starts[-1], None, "after"))
    return out


def _weights_step(game: Game) -> int | None:
    """The weights step the game was played with: the pairing's tag, else its first
    searched move's (games stored before the tag existed)."""
    tag = game.metadata.get("weights_step")
    if tag not in (None, "", "None"):
        return int(tag)
    for move in game.moves:
        if move.weights_step is not None:
            return move.weights_step
    return None


def scores_by_stretch(
    games: Iterable[Game], cuts: Sequence[Stretch], agent: str = "agent"
) -> dict[str, list[MatchResult]]:
    """Opponent name -> one result per stretch (the agent as player_a), from every game the
    agent played against someone else with a known weights step (voided games, which
    the store normally never holds, are skipped)."""
    starts = [c.first_step for c in cuts]
    tallies: dict[str, list[list[int]]] = {}
    for game in games:
        seat = game.colour_of(agent)
        step = _weights_step(game)
        self_play = game.black == game.white
        if not seat or self_play or step is None or game.result == "Void":
            continue
        index = bisect.bisect_right(starts, step) - 1
        if index < 0:
            continue
        opponent = game.player(-seat)
        cells = tallies.setdefault(opponent, [[0, 0, 0, 0, 0] for _ in cuts])
        cell = cells[index]
        points = game.score_for(seat)
        cell[0 if points == 1.0 else 1 if points == 0.0 else 2] += 1
        if seat == BLACK:
            cell[3] += 1
            cell[4] += points == 1.0
    return {
        opponent: [
            MatchResult(agent, opponent, wins, losses, draws, black, black_wins, 0, ())
            for wins, losses, draws, black, black_wins in cells
        ]
        for opponent, cells in sorted(tallies.items())
    }


def markdown_table(table: dict[str, list[MatchResult]], cuts: Sequence[Stretch]) -> list[str]:
    """One row per opponent, one column per stretch that holds any game: 'score (games)';
    empty cells '-'."""
    keep = [i for i in range(len(cuts)) if any(r[i].played for r in table.values())]
    cuts = [cuts[i] for i in keep]
    lines = [
        "| opponent | " + " | ".join(c.label for c in cuts) + " |",
        "| --- |" + " --- |" * len(cuts),
    ]
    for opponent, results in table.items():
        kept = [results[i] for i in keep]
        cells = [f"{r.score:.0%} ({r.played})" if r.played else "-" for r in kept]
        lines.append(f"| {opponent} | " + " | ".join(cells) + " |")
    return lines
