"""The one interface every seat at the board sits behind.

The agent (backed by a batched tree search), a random mover, GnuGo over GTP and a
person in a web page all answer the same question, "your move in this position", so
the code that runs games never asks which kind of player it has. Two properties let
the runner schedule them well without knowing what they are:

* `select_moves` takes many requests at once: the agent answers them with one batched
  search; simple players just loop.
* `blocking` players (engines, people) answer through a future (`begin_move`) so that
  a slow member never stalls the batch of other games: an engine on a worker thread, a
  person whenever their move arrives over HTTP.
"""

from __future__ import annotations

import concurrent.futures as cf
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from crowdzero.go.advice import Advice
from crowdzero.go.position import Position


@dataclass(frozen=True)
class MoveRequest:
    """A player is asked for a move in `position` of the game `game_id`.

    `opponent` is the name of the player in the other seat, when the caller knows it (the
    match runner always fills it). Most players ignore it; an opponent-modelling search
    uses it to pick its model of that opponent.

    `allow_resign`: the player may answer RESIGN (`crowdzero.go.coords`). Off unless the
    caller opts in, so a game meant to be played out is played out; the agent resigns
    by `SearchConfig.resign_threshold` and `resign_consecutive`.

    `advice`: a move suggested to the player for this move (`crowdzero.go.advice`). A
    network with advice planes reads it at the root of its search; every other player
    ignores it.
    """

    game_id: str
    position: Position
    opponent: str | None = None
    allow_resign: bool = False
    advice: Advice | None = None


@dataclass(frozen=True)
class MoveChoice:
    """A player's answer; `policy`/`root_value` are filled only by searching players.

    `point` is a point, N*N to pass, or RESIGN. `policy` is the search's training target
    float32 [N*N+1]; the agent leaves it None on its cheap searches (playout cap
    randomisation), whose `root_value` (the mover's view, in [-1, 1]) is still set.
    `weights_step` is set by a learning agent that knows which version of its weights it
    searched with; the runner copies it to the move record.
    """

    point: int
    policy: np.ndarray | None = None
    root_value: float | None = None
    weights_step: int | None = None


class PlayerError(RuntimeError):
    """A player could not produce a move (an engine died, a person left)."""


class Player(ABC):
    """Anything that answers "your move in this position"."""

    name: str = "player"
    blocking: bool = False

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        """Answer many requests at once; players that can batch override this."""
        return [self.select_move(request) for request in requests]

    @abstractmethod
    def select_move(self, request: MoveRequest) -> MoveChoice:
        """Choose a legal move (pass included) for the side to move."""

    def begin_move(self, request: MoveRequest, executor: cf.Executor) -> cf.Future[MoveChoice]:
        """How the runner asks a blocking player: the future resolves to the move (or to
        PlayerError). By default `select_move` runs on one of the runner's worker threads;
        a player whose answer arrives from elsewhere (a person) returns its own future
        and holds no thread while it waits."""
        return executor.submit(self.select_move, request)

    def supports_size(self, size: int) -> bool:
        """Whether the player can play on a `size` x `size` board; a network-backed player
        plays the one size its weights were trained for. Default: every size."""
        return True

    def end_game(self, game_id: str) -> None:  # noqa: B027 - optional hook
        """Forget per-game state (search trees, engine sync); default keeps none."""

    def move_distribution(self, position: Position) -> np.ndarray | None:
        """Probability of each move [N*N+1] where the player has one, else None.

        The study uses this to measure how far the agent is from imitating a member.
        """
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release processes or files the player holds."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"
