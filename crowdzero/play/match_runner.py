"""Plays many games at once between `Player`s and hands back finished `Game` records.

The runner never asks what kind of player sits in a seat. It only uses the two
scheduling hints of the `Player` protocol:

* requests to the same non-blocking player are gathered and sent in one
  `select_moves` call, so every game where the agent is to move shares one batched
  search (leaves from all games -> one network call);
* blocking players (GTP engines, people) are called on worker threads, so a slow
  member never stalls the batch: while one game waits on GnuGo, the other games go on.

A member that fails (its engine dies, it answers an illegal move) voids only its own
game: the game is dropped and reported, everything else carries on.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import itertools
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from crowdzero.go.coords import BLACK, RESIGN, WHITE, point_to_gtp
from crowdzero.go.errors import IllegalMove
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.play.record import Game, Move

log = logging.getLogger(__name__)

#: `Game.agent_colour` for self-play: the learning agent holds both seats.
BOTH = 2


@dataclass(frozen=True)
class Pairing:
    """Who sits where in one game, and which seats belong to the learning agent.

    `learner_colours` decides whose moves carry search targets into the record: a
    frozen checkpoint in the crowd also searches, but its moves are environment
    transitions, never targets.
    """

    black: Player
    white: Player
    learner_colours: frozenset[int] = frozenset()
    checkpoint: str | None = None
    allow_resign: bool = False
    #: Training step of the weights the learner started this game with (off-policy lag).
    weights_step: int | None = None

    def player(self, colour: int) -> Player:
        return self.black if colour == BLACK else self.white

    @property
    def agent_colour(self) -> int:
        if len(self.learner_colours) == 2:
            return BOTH
        return next(iter(self.learner_colours), 0)


@dataclass(frozen=True)
class DroppedGame:
    """A game voided because a player failed; nothing of it is learned or stored."""

    game_id: str
    pairing: Pairing
    reason: str


@dataclass
class _LiveGame:
    game_id: str
    pairing: Pairing
    position: Position
    moves: list[Move] = field(default_factory=list)
    pending: cf.Future[MoveChoice] | None = None


class MatchRunner:
    """Keeps `concurrency` games going, drawing a new pairing whenever one ends."""

    def __init__(
        self,
        rules: Rules,
        next_pairing: Callable[[], Pairing],
        *,
        concurrency: int = 16,
        max_moves: int | None = None,
        workers: int = 4,
        source: str = "train",
        agent_moves_last: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.rules = rules
        self.next_pairing = next_pairing
        self.concurrency = concurrency
        self.max_moves = max_moves if max_moves is not None else 2 * rules.size * rules.size
        self.source = source
        self.agent_moves_last = agent_moves_last
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crowd")
        self._ids = itertools.count()
        self._live: dict[str, _LiveGame] = {}
        self._budget: int | None = None  # games still to start; None = no limit
        self.moves_played = 0
        self.learner_calls = 0  # batched select_moves calls at learning seats
        self.learner_requests = 0  # games those calls covered

    # -- public --------------------------------------------------------------
    def step(self, wait_seconds: float = 0.05) -> tuple[list[Game], list[DroppedGame]]:
        """Advance every game by up to one move of each seat; returns the games that ended.

        Order matters for the agent's batch: engine answers that arrived are applied
        first, then every other non-blocking player moves, and only then does the learner
        search, so its one batched search covers every game where it is now to move
        (rather than alternating with the crowd and covering about half of them). Blocking
        players are handed their requests as soon as it is their turn.
        """
        self._fill()
        finished: list[Game] = []
        dropped: list[DroppedGame] = []
        self._harvest(finished, dropped)
        if self.agent_moves_last:
            served = self._serve(learner=False, finished=finished, dropped=dropped)
            self._submit_blocking()
            served += self._serve(learner=True, finished=finished, dropped=dropped)
        else:
            served = self._serve(learner=None, finished=finished, dropped=dropped)
        self._submit_blocking()
        pending = [g.pending for g in self._live.values() if g.pending is not None]
        if pending and not served:
            cf.wait(pending, timeout=wait_seconds, return_when=cf.FIRST_COMPLETED)
            self._harvest(finished, dropped)
        return finished, dropped

    def _serve(
        self, *, learner: bool | None, finished: list[Game], dropped: list[DroppedGame]
    ) -> int:
        """One batched `select_moves` call per non-blocking player whose seat is (or is
        not, by `learner`; any seat for None) a learning seat; returns how many moves
        were asked for."""
        by_player: dict[int, tuple[Player, list[_LiveGame]]] = {}
        for game in self._live.values():
            colour = game.position.to_play
            player = game.pairing.player(colour)
            if game.pending is not None or player.blocking:
                continue
            at_learner_seat = colour in game.pairing.learner_colours
            if learner is not None and at_learner_seat != learner:
                continue
            by_player.setdefault(id(player), (player, []))[1].append(game)
        asked = 0
        for player, games in by_player.values():
            requests = [self._request(g) for g in games]
            asked += len(requests)
            learner_games = sum(g.position.to_play in g.pairing.learner_colours for g in games)
            if learner_games:
                self.learner_calls += 1
                self.learner_requests += learner_games
            try:
                choices = player.select_moves(requests)
            except PlayerError as exc:
                for g in games:
                    dropped.append(self._drop(g, f"{player.name} failed: {exc}"))
                continue
            except Exception as exc:
                # A member's bug voids its games, as on the worker threads; the learner's
                # own bug is raised: dropping all its games would hide it.
                if learner_games:
                    raise
                log.exception("player %s crashed", player.name)
                for g in games:
                    dropped.append(self._drop(g, f"{type(exc).__name__}: {exc}"))
                continue
            for g, choice in zip(games, choices, strict=True):
                self._apply(g, choice, finished, dropped)
        return asked

    def _submit_blocking(self) -> None:
        """Hand every game whose turn is a blocking player's to a worker thread."""
        for game in self._live.values():
            if game.pending is not None:
                continue
            player = game.pairing.player(game.position.to_play)
            if player.blocking:
                request = self._request(game, copy=True)
                game.pending = self._pool.submit(player.select_move, request)

    def _harvest(self, finished: list[Game], dropped: list[DroppedGame]) -> None:
        """Apply the answers blocking players have given meanwhile."""
        for g in list(self._live.values()):
            if g.pending is None or not g.pending.done():
                continue
            future, g.pending = g.pending, None
            try:
                choice = future.result()
            except PlayerError as exc:
                dropped.append(self._drop(g, f"{g.pairing.player(g.position.to_play).name}: {exc}"))
                continue
            except Exception as exc:  # a member's bug must not take the run down
                log.exception("player crashed")
                dropped.append(self._drop(g, f"{type(exc).__name__}: {exc}"))
                continue
            self._apply(g, choice, finished, dropped)

    def _request(self, game: _LiveGame, copy: bool = False) -> MoveRequest:
        colour = game.position.to_play
        return MoveRequest(
            game.game_id,
            game.position.copy() if copy else game.position,
            _opponent(game),
            allow_resign=game.pairing.allow_resign and colour in game.pairing.learner_colours,
        )

    @property
    def learner_batch_fill(self) -> float:
        """Mean share of the live games in one learner search (1.0 = every game)."""
        if not self.learner_calls:
            return 0.0
        return self.learner_requests / (self.learner_calls * self.concurrency)

    def play(self, games: int) -> Iterator[Game | DroppedGame]:
        """Start exactly `games` more games and yield each as it ends (finished or dropped)."""
        self._budget = games
        try:
            while self._live or self._budget:
                finished, dropped = self.step()
                yield from finished
                yield from dropped
        finally:
            self._budget = None

    @property
    def live_games(self) -> int:
        return len(self._live)

    def stop_accepting(self) -> None:
        """Let the live games finish but start no new ones."""
        self._budget = 0

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- internals -----------------------------------------------------------
    def _fill(self) -> None:
        while len(self._live) < self.concurrency and self._budget != 0:
            game_id = f"g{next(self._ids)}"
            self._live[game_id] = _LiveGame(game_id, self.next_pairing(), Position(self.rules))
            if self._budget is not None:
                self._budget -= 1

    def _apply(
        self,
        game: _LiveGame,
        choice: MoveChoice,
        finished: list[Game],
        dropped: list[DroppedGame],
    ) -> None:
        position = game.position
        colour = position.to_play
        player = game.pairing.player(colour)
        try:
            if choice.point == RESIGN:
                position.resign()
            else:
                position.play(int(choice.point))
        except IllegalMove as exc:
            dropped.append(self._drop(game, f"{player.name} played an illegal move: {exc}"))
            return
        except Exception as exc:  # out-of-range point and the like
            dropped.append(self._drop(game, f"{player.name} answered {choice.point!r}: {exc}"))
            return
        self.moves_played += 1
        learner = colour in game.pairing.learner_colours
        policy = (
            tuple(float(x) for x in np.asarray(choice.policy, dtype=np.float32))
            if learner and choice.policy is not None
            else None
        )
        game.moves.append(
            Move(
                colour=colour,
                point=int(choice.point),
                policy=policy,
                root_value=float(choice.root_value)
                if learner and choice.root_value is not None
                else None,
                player=player.name,
            )
        )
        if position.is_over or len(game.moves) >= self.max_moves:
            finished.append(self._finish(game))

    def _finish(self, game: _LiveGame) -> Game:
        del self._live[game.game_id]
        self._end(game)
        position = game.position
        return Game(
            rules=self.rules,
            black=game.pairing.black.name,
            white=game.pairing.white.name,
            moves=tuple(game.moves),
            result=position.result_string(),
            winner=position.winner(),
            date=dt.date.today().isoformat(),
            agent_colour=game.pairing.agent_colour,
            checkpoint=game.pairing.checkpoint,
            metadata=_metadata(game.pairing, self.source, capped=not position.is_over),
        )

    def _drop(self, game: _LiveGame, reason: str) -> DroppedGame:
        log.warning("dropping game %s after %d moves: %s", game.game_id, len(game.moves), reason)
        self._live.pop(game.game_id, None)
        self._end(game)
        return DroppedGame(game.game_id, game.pairing, reason)

    def _end(self, game: _LiveGame) -> None:
        for player in {id(p): p for p in (game.pairing.black, game.pairing.white)}.values():
            try:
                player.end_game(game.game_id)
            except Exception:
                log.exception("end_game failed for %s", player.name)


def _metadata(pairing: Pairing, source: str, *, capped: bool) -> dict[str, str]:
    meta = {"source": source, "capped": str(capped)}
    if pairing.learner_colours:
        meta["resign_allowed"] = str(pairing.allow_resign)
    if pairing.weights_step is not None:
        meta["weights_step"] = str(pairing.weights_step)
    return meta


def _opponent(game: _LiveGame) -> str:
    """The name of the player in the other seat from the one to move."""
    return game.pairing.player(-game.position.to_play).name


def describe_move(point: int, size: int) -> str:
    """GTP text for a move, resignation included (for logs and progress lines)."""
    return "resign" if point == RESIGN else point_to_gtp(point, size)


__all__ = ["BLACK", "BOTH", "WHITE", "DroppedGame", "MatchRunner", "Pairing", "describe_move"]
