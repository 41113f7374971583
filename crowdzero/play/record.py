"""Finished games as immutable records.

A `Game` is what crosses every edge of the system (SQLite rows, SGF files, the web
page, the replay window), so it carries everything needed to replay the game and to
learn from it: the rules, who sat in each seat, every move and, for the learning agent's
moves, the search's policy target and root value.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crowdzero.go.advice import Advice
from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position, Rules


@dataclass(frozen=True)
class Move:
    """One move of a game; `policy` and `root_value` exist only for searched moves.

    `weights_step` is the training step of the weights the learning agent searched the
    move with (None for everyone else's moves), so off-policy lag can be measured per move
    when games are generated on workers that trail the learner.

    `advice`: the suggestion the mover was given for this move, if any (kept whether or
    not its network could read it, so training rows and the study rebuild its planes).
    """

    colour: int
    point: int
    policy: tuple[float, ...] | None = None
    root_value: float | None = None
    player: str | None = None
    weights_step: int | None = None
    advice: Advice | None = None


@dataclass(frozen=True)
class Game:
    """A finished (or voided) game between two named players."""

    rules: Rules
    black: str
    white: str
    moves: tuple[Move, ...]
    result: str
    winner: int
    date: str
    agent_colour: int = 0
    checkpoint: str | None = None
    metadata: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def player(self, colour: int) -> str:
        """Name of the player who had `colour`."""
        return self.black if colour == BLACK else self.white

    def colour_of(self, name: str) -> int:
        """The colour `name` had in this game: BLACK, WHITE, or 0 if it did not play.

        The one definition of a named player's seat (arena tallies, the study's agent
        moves, flaw detectors run on the opponent's seat all ask it). A player in both
        seats (self-play under one name) is reported as BLACK.
        """
        if self.black == name:
            return BLACK
        if self.white == name:
            return WHITE
        return 0

    def score_for(self, colour: int) -> float:
        """What the game was worth to `colour`: 1 a win, 0.5 a draw (or jigo), 0 a loss.

        The one definition of a game's score, shared by the curriculum, the ratings and
        the study, so a draw counts the same everywhere.
        """
        if self.winner == 0:
            return 0.5
        return 1.0 if self.winner == colour else 0.0

    def replay(self) -> Position:
        """Rebuild the final position by playing every move through the rules engine.

        Raises IllegalMove if the record is not a legal game, which is how stored or
        imported games are checked.
        """
        position = Position(self.rules)
        for move in self.moves:
            if move.colour != position.to_play:
                raise ValueError(
                    f"move {len(position.moves) + 1} is by the wrong colour "
                    f"({'B' if move.colour == BLACK else 'W'})"
                )
            if move.point == RESIGN:
                position.resign()
            else:
                position.play(move.point)
        return position

    def positions(self) -> list[Position]:
        """The position before each move (len == len(moves))."""
        position = Position(self.rules)
        out: list[Position] = []
        for move in self.moves:
            out.append(position.copy())
            if move.point == RESIGN:
                position.resign()
            else:
                position.play(move.point)
        return out


def result_winner(result: str) -> int:
    """Winner colour from an SGF/GTP style result string ("B+3.5", "W+R", "0", "Void")."""
    text = result.strip().upper()
    if text.startswith("B+"):
        return BLACK
    if text.startswith("W+"):
        return WHITE
    return 0
