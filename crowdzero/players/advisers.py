"""The advisers of known intent: helpful, the opponent, random, and a person.

Each suggests a move to the learning agent (`crowdzero.play.advice`); the study then
measures whether the agent follows each source. Their intents:

* `EngineAdviser` ("helpful"): a strong engine's own choice for the agent's side, e.g.
  GnuGo level 10 or Pachi (any player spec, asked as if it held the agent's seat).
* `OpponentAdviser` ("opponent"): the player across the board, advising so that the agent
  loses. Among the agent's *plausible* moves (legal, not a pass, not filling its own
  single-point eye: what a sensible player might play) it names the one its own
  evaluation rates worst for the agent. A member with a network (the agent, a
  `checkpoint:` player) rates each move by its value net on the position after it; every
  other member (GnuGo, Pachi, heuristics, random, MCTS) by the mean final score of random
  play-outs after the move: the evaluation plain MCTS itself uses, and a stand-in for
  engines whose own evaluation cannot be read per move over GTP cheaply. Plausible moves
  keep the advice from being trivially recognisable (filling an own eye is a rule every
  beginner learns), so what the agent must learn is whom to distrust.
* `RandomAdviser` ("random"): a uniformly random plausible move.
* `SuggestionBox` ("human"): what a person typed for the agent in the web page (or in a
  GTP controller), used once for the agent's next move.
"""

from __future__ import annotations

import threading

import numpy as np

from crowdzero.go.coords import RESIGN
from crowdzero.go.features import batch_features
from crowdzero.go.playout import random_playouts
from crowdzero.go.position import Position
from crowdzero.play.advice import AdviceRequest, Adviser
from crowdzero.play.player import MoveRequest, Player
from crowdzero.players.random import own_eye_mask
from crowdzero.players.registry import make_player
from crowdzero.search.evaluator import Evaluator

#: Play-outs per candidate move for members without a network (on 9x9 a few ms each).
DEFAULT_PLAYOUTS = 16


def plausible_moves(position: Position) -> np.ndarray:
    """int64 points a sensible player might play: legal, not a pass, not filling the side
    to move's own single-point eye; just the pass when there is no such point."""
    n2 = position.size * position.size
    legal = position.legal_mask()[:n2] & ~own_eye_mask(position)
    points = np.flatnonzero(legal)
    return points if points.size else np.array([n2], dtype=np.int64)


def _children(position: Position, points: np.ndarray) -> list[Position]:
    children = []
    for point in points:
        child = position.copy()
        child.play(int(point))
        children.append(child)
    return children


def network_ratings(evaluator: Evaluator, position: Position, points: np.ndarray) -> np.ndarray:
    """float64 [len(points)]: the value net's view of each move for the side to move in
    `position` (its value of the position after the move, negated: the net answers for
    the side then to move). One batched call."""
    children = _children(position, points)
    finished = np.array([child.is_over for child in children])
    values = np.zeros(len(children), dtype=np.float64)
    live = [child for child in children if not child.is_over]
    if live:
        _, value = evaluator.evaluate(batch_features(live, evaluator.feature_spec))
        values[~finished] = -np.asarray(value, dtype=np.float64)
    for i, child in enumerate(children):
        if child.is_over:  # two passes: the game's result decides
            winner = child.winner()
            values[i] = 0.0 if winner == 0 else (1.0 if winner == position.to_play else -1.0)
    return values


def playout_ratings(
    position: Position, points: np.ndarray, playouts: int, rng: np.random.Generator
) -> np.ndarray:
    """float64 [len(points)]: mean final score (area, komi included) of random play-outs
    after each move, from the side to move's view."""
    sign = 1.0 if position.to_play == 1 else -1.0
    return np.array(
        [
            sign * float(random_playouts(child, playouts, rng).mean())
            for child in _children(position, points)
        ]
    )


class EngineAdviser(Adviser):
    """Helpful: the move `player` (a strong engine) would play in the agent's seat."""

    source = "helpful"

    def __init__(self, player: Player, name: str | None = None) -> None:
        self.player = player
        self.name = name or player.name
        self.blocking = player.blocking

    def _game(self, game_id: str) -> str:
        # Its own game id, so an engine that also plays in the game keeps its board apart.
        return f"{game_id}#advice"

    def advise(self, request: AdviceRequest) -> int | None:
        """The engine's move, or no advice when it would resign in the agent's seat.

        GnuGo resigns hopeless positions whatever the request says, and early in a run
        most of the agent's positions are hopeless; "resign" is not a move the agent can
        play, so it is silence rather than advice the runner must reject as illegal.
        """
        choice = self.player.select_move(MoveRequest(self._game(request.game_id), request.position))
        return None if choice.point == RESIGN else int(choice.point)

    def end_game(self, game_id: str) -> None:
        self.player.end_game(self._game(game_id))

    def close(self) -> None:
        self.player.close()


class OpponentAdviser(Adviser):
    """The opponent itself: the plausible move its own evaluation rates worst for the
    agent (see the module docstring for which evaluation each kind of member uses)."""

    source = "opponent"
    blocking = True  # play-outs or a network call: off the runner's thread

    def __init__(self, playouts: int = DEFAULT_PLAYOUTS, seed: int | None = None) -> None:
        if playouts < 1:
            raise ValueError(f"playouts must be at least 1, not {playouts}")
        self.name = "opponent"
        self.playouts = playouts
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def ratings(self, opponent: Player, position: Position, points: np.ndarray) -> np.ndarray:
        """How good each move is for the side to move, by the opponent's evaluation."""
        evaluator = getattr(opponent, "evaluator", None)
        if isinstance(evaluator, Evaluator):
            return network_ratings(evaluator, position, points)
        with self._lock:  # one generator shared by the worker threads
            seed = int(self._rng.integers(2**63))
        return playout_ratings(position, points, self.playouts, np.random.default_rng(seed))

    def advise(self, request: AdviceRequest) -> int | None:
        points = plausible_moves(request.position)
        if len(points) == 1:
            return int(points[0])
        ratings = self.ratings(request.opponent, request.position, points)
        return int(points[int(np.argmin(ratings))])


class RandomAdviser(Adviser):
    """A uniformly random plausible move."""

    source = "random"

    def __init__(self, seed: int | None = None) -> None:
        self.name = "random"
        self._rng = np.random.default_rng(seed)

    def advise(self, request: AdviceRequest) -> int | None:
        points = plausible_moves(request.position)
        return int(points[int(self._rng.integers(len(points)))])


class SuggestionBox(Adviser):
    """A person's suggestions, one per game, each used for the agent's next move.

    `suggest` is called from the web server's (or GTP engine's) thread, `advise` from the
    runner's; the point must already have been checked like a move by the caller.
    """

    source = "human"

    def __init__(self, name: str = "human") -> None:
        self.name = name
        self._pending: dict[str, int] = {}
        self._lock = threading.Lock()

    def suggest(self, game_id: str, point: int) -> None:
        with self._lock:
            self._pending[game_id] = int(point)

    def withdraw(self, game_id: str) -> None:
        """Take back the suggestion for a game (if any)."""
        with self._lock:
            self._pending.pop(game_id, None)

    def pending(self, game_id: str) -> int | None:
        with self._lock:
            return self._pending.get(game_id)

    def advise(self, request: AdviceRequest) -> int | None:
        with self._lock:
            return self._pending.pop(request.game_id, None)

    def end_game(self, game_id: str) -> None:
        with self._lock:
            self._pending.pop(game_id, None)


#: Sources a crowd file may configure (a person's advice comes from the web page).
CROWD_SOURCES = ("helpful", "opponent", "random")


def make_adviser(source: str, spec: str | None = None, seed: int | None = None) -> Adviser:
    """An adviser for a crowd file's [[adviser]] entry; `spec` names the engine of a
    helpful adviser (anything `make_player` accepts), and nothing for the others."""
    if source == "helpful":
        if not spec:
            raise ValueError('a helpful adviser needs the spec of its engine, e.g. "gnugo:10"')
        return EngineAdviser(make_player(spec), name=spec)
    if spec:
        raise ValueError(f"a {source} adviser takes no spec (got {spec!r})")
    if source == "opponent":
        return OpponentAdviser(seed=seed)
    if source == "random":
        return RandomAdviser(seed=seed)
    raise ValueError(f"advice source must be one of {', '.join(CROWD_SOURCES)}, not {source!r}")
