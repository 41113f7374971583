"""Advisers: who may suggest a move to the learning agent, and how often.

An `Adviser` answers "which move would you suggest to the side to move here?". The match
runner asks one, when the game's `AdvicePlan` draws it, just before the learner's move,
and hands the suggestion to the learner in `MoveRequest.advice`; the move's record keeps
it (`Move.advice`), so the training rows and the study can rebuild the planes the agent
saw. Advice never changes who plays or what is learned from: the learner's policy targets
still come only from its own search, and the curriculum and ratings never look at it.

Like players, advisers come in two speeds. A `blocking` one (an engine) is asked on the
runner's worker threads, so a slow adviser delays only its own game; a quick one (random,
a person's typed suggestion) is asked inline. An adviser that fails, or suggests a move
that is not legal when the agent is to move, gives no advice for that move: advice is an
extra, and it must never void a game.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crowdzero.go.advice import ADVICE_SOURCES
from crowdzero.go.position import Position
from crowdzero.play.player import Player


@dataclass(frozen=True)
class AdviceRequest:
    """Advice is wanted for the side to move in `position` of game `game_id`.

    `opponent` is the player across the board from the side to move (the player whose
    advice is meant to make the agent lose, for an "opponent" adviser).
    """

    game_id: str
    position: Position
    opponent: Player


class Adviser(ABC):
    """Anything that suggests a move; `source` is its kind, one of `ADVICE_SOURCES`."""

    name: str = "adviser"
    source: str = "random"
    blocking: bool = False

    @abstractmethod
    def advise(self, request: AdviceRequest) -> int | None:
        """A suggested point (N*N = pass) for the side to move, or None for no advice."""

    def end_game(self, game_id: str) -> None:  # noqa: B027 - optional hook
        """Forget per-game state (an engine's board); default keeps none."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release processes the adviser holds."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.source})"


@dataclass(frozen=True)
class ScheduledAdviser:
    """An adviser and how often it speaks: it takes part in a share `games` of the
    learner's games, and in those it advises each learner move with chance `rate`."""

    adviser: Adviser
    games: float = 1.0
    rate: float = 0.25

    def __post_init__(self) -> None:
        if self.adviser.source not in ADVICE_SOURCES:
            raise ValueError(f"unknown advice source {self.adviser.source!r}")
        for what, value in (("games", self.games), ("rate", self.rate)):
            if isinstance(value, bool) or not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"adviser {what} must be a chance in [0, 1], not {value!r}")


@dataclass(frozen=True)
class AdvicePlan:
    """Who advises the learner in one game: (adviser, chance per learner move) pairs, and
    the seed of the game's own draws (so advice never shifts the run's other randomness).

    When several advisers are drawn for the same move, the first listed speaks.
    """

    advisers: tuple[tuple[Adviser, float], ...]
    seed: int = 0

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def draw(self, rng: np.random.Generator) -> Adviser | None:
        """The adviser of the next learner move, or None (one uniform draw per adviser,
        every move, so a plan's draws do not depend on which adviser spoke before)."""
        draws = rng.random(len(self.advisers))
        for (adviser, rate), u in zip(self.advisers, draws, strict=True):
            if u < rate:
                return adviser
        return None


def draw_plan(schedule: Sequence[ScheduledAdviser], rng: np.random.Generator) -> AdvicePlan | None:
    """The advice plan of one game: each adviser joins with its `games` chance. None when
    nobody joins (or there is no schedule), which costs the runner nothing."""
    if not schedule:
        return None
    joined = rng.random(len(schedule))
    advisers = tuple(
        (entry.adviser, entry.rate)
        for entry, u in zip(schedule, joined, strict=True)
        if u < entry.games and entry.rate > 0
    )
    if not advisers:
        return None
    return AdvicePlan(advisers, seed=int(rng.integers(2**63)))
