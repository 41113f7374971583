"""Plays many games at once between `Player`s and hands back finished `Game` records.

The runner never asks what kind of player sits in a seat. It only uses the two
scheduling hints of the `Player` protocol:

* requests to the same non-blocking player are gathered and sent in one
  `select_moves` call, so every game where the agent is to move shares one batched
  search (leaves from all games -> one network call);
* blocking players (GTP engines, people) are called on worker threads, so a slow
  member never stalls the batch: while one game waits on GnuGo, the other games go on;
* an engine that answers quickly is not left out of the search either: just before the
  learner searches, the runner takes in the answers that arrived meanwhile and may hold
  the search a few milliseconds (`learner_wait`) for the rest (see `step`).

A member that fails (its engine dies, it answers an illegal move) voids only its own
game: the game is dropped and reported, everything else carries on.

Besides the games it draws itself (`next_pairing`), a runner plays games started from
another thread (`start_game`): the web page seats a person opposite the agent this way,
so a person's game goes through the same loop, the same batched search and the same
record builder as a training game. Whoever started a game may watch it move by move
(`GameWatcher`), from the runner's thread.

A pairing may carry an `AdvicePlan` (`crowdzero.play.advice`): before a learner move the
plan may draw an adviser, whose suggestion travels in the learner's `MoveRequest` and is
kept in the move's record. A blocking adviser (an engine) is asked on a worker thread and
the learner's move waits for it, without holding up any other game.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from crowdzero.go.advice import Advice
from crowdzero.go.coords import BLACK, RESIGN, WHITE, point_to_gtp
from crowdzero.go.errors import IllegalMove
from crowdzero.go.position import Position, Rules
from crowdzero.play.advice import AdvicePlan, AdviceRequest, Adviser
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.play.record import Game, Move

log = logging.getLogger(__name__)

_T = TypeVar("_T")

#: `Game.agent_colour` for self-play: the learning agent holds both seats.
BOTH = 2

#: Name under which the learning agent appears in the store, ratings and SGF files,
#: whoever seats it (training, the web page), so its games against the crowd and against
#: people are one player's games.
AGENT_NAME = "agent"

#: `Game.result` of a record taken while the game is still being played.
IN_PROGRESS = "?"


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
    #: Whether the record says if the learner could resign (``resign_allowed``). Off where
    #: resigning was never drawn (the web page), so the trainer's false-resignation check
    #: counts only games whose schedule decided it.
    records_resignation: bool = True
    #: Who may advise the learner in this game, and how often (None: nobody).
    advice: AdvicePlan | None = None

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


@dataclass(frozen=True)
class GameView:
    """A game as it stands, for a watcher on another thread: a private copy of the
    position and the record so far (result "?" while it goes on; the finished record,
    the one `step` returns, once it is over)."""

    game_id: str
    position: Position
    record: Game


class GameWatcher(Protocol):
    """Follows one started game; called on the runner's thread, so it must be quick and
    must not call back into the runner."""

    def moved(self, view: GameView) -> None:
        """A move was played and the game goes on. Called once the players to move next
        have been asked, so a blocking player (a person) already has its request."""

    def finished(self, view: GameView) -> None:
        """The game ended; `view.record` is the finished record."""

    def dropped(self, dropped: DroppedGame) -> None:
        """The game was voided (a player failed or left); nothing of it is kept."""


@dataclass
class _LiveGame:
    game_id: str
    pairing: Pairing
    position: Position
    moves: list[Move] = field(default_factory=list)
    pending: cf.Future[MoveChoice] | None = None
    drawn: bool = True  # drawn by the runner itself (counts toward `concurrency`)
    watcher: GameWatcher | None = None
    # Advice for the learner's move at ply `advice_ply` (drawn once per ply).
    advice_ply: int = -1
    advice: Advice | None = None
    advice_pending: tuple[Adviser, cf.Future[int | None]] | None = None
    advice_rng: np.random.Generator | None = None
    advisers_used: dict[int, Adviser] = field(default_factory=dict)


class MatchRunner:
    """Keeps `concurrency` games going, drawing a new pairing whenever one ends, and plays
    the games started from outside beside them.

    `next_pairing` None: the runner draws nothing and plays only started games (the web
    page's runner). `void_on_learner_error`: a learner whose batched call raises voids the
    games of that call instead of raising; a server keeps going, while training raises,
    since dropping every game would hide the bug.
    """

    def __init__(
        self,
        rules: Rules,
        next_pairing: Callable[[], Pairing] | None,
        *,
        concurrency: int = 16,
        max_moves: int | None = None,
        workers: int = 4,
        source: str = "train",
        agent_moves_last: bool = True,
        void_on_learner_error: bool = False,
        learner_wait: float = 0.0,
        learner_min_fill: float = 1.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if learner_wait < 0:
            raise ValueError(f"learner_wait must be at least 0 seconds, not {learner_wait}")
        if not 0.0 <= learner_min_fill <= 1.0:
            raise ValueError(f"learner_min_fill must be within [0, 1], not {learner_min_fill}")
        self.rules = rules
        self.next_pairing = next_pairing
        self.concurrency = concurrency
        self.max_moves = max_moves if max_moves is not None else 2 * rules.size * rules.size
        self.source = source
        self.agent_moves_last = agent_moves_last
        self.void_on_learner_error = void_on_learner_error
        # With agent_moves_last: how long the learner's search may wait for blocking
        # opponents still thinking, and the share of its games that ends the wait.
        self.learner_wait = learner_wait
        self.learner_min_fill = learner_min_fill
        self.threads = workers  # that ask blocking players (and advisers) for moves
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="crowd")
        self._ids = itertools.count()
        self._live: dict[str, _LiveGame] = {}
        self._budget: int | None = None  # games still to start; None = no limit
        # Games started from other threads wait here until `step` takes them in; `_wake`
        # resolves when one arrives, so a runner waiting on people or on nothing at all
        # takes a new game in at once.
        self._arrivals_lock = threading.Lock()
        self._arrivals: list[_LiveGame] = []
        self._wake: cf.Future[None] = cf.Future()
        self._moved: dict[str, _LiveGame] = {}  # watched games with moves not yet shown
        self.moves_played = 0
        self.learner_calls = 0  # batched select_moves calls at learning seats
        self.learner_requests = 0  # games those calls covered
        self.learner_largest = 0  # the most games one such call covered
        self.learner_seconds = 0.0  # time spent in those calls
        self.learner_failures = 0  # calls that raised (with void_on_learner_error)
        self.learner_wait_seconds = 0.0  # time searches were held for opponents' answers

    # -- public --------------------------------------------------------------
    def step(self, wait_seconds: float = 0.05) -> tuple[list[Game], list[DroppedGame]]:
        """Advance every game by up to one move of each seat; returns the games that ended.

        Order matters for the agent's batch: engine answers that arrived are applied
        first, then every other non-blocking player moves, and only then does the learner
        search, so its one batched search covers every game where it is now to move
        (rather than alternating with the crowd and covering about half of them). Blocking
        players are handed their requests as soon as it is their turn.

        Right before the learner searches, the answers that arrived since the step began
        are applied too, and with `learner_wait` the search waits up to that long while
        fewer than `learner_min_fill` of the games where the learner moves next are ready.
        Without this, a runner stepped in a tight loop (a Ray worker) asked each engine
        just after a search and looked for its answer just before the next one, before
        even a 20 ms GnuGo had replied: every engine game missed every other search.
        """
        self._take_arrivals()
        self._fill()
        finished: list[Game] = []
        dropped: list[DroppedGame] = []
        self._harvest(finished, dropped)
        if self.agent_moves_last:
            served = self._serve(learner=False, finished=finished, dropped=dropped)
            self._submit_blocking()
            self._show_moves()
            self._await_learner_games(finished, dropped)
            served += self._serve(learner=True, finished=finished, dropped=dropped)
        else:
            served = self._serve(learner=None, finished=finished, dropped=dropped)
        self._submit_blocking()
        self._show_moves()
        pending: list[cf.Future[Any]] = [
            g.pending for g in self._live.values() if g.pending is not None
        ]
        pending += [
            g.advice_pending[1] for g in self._live.values() if g.advice_pending is not None
        ]
        if not served and (pending or not self._live):
            # Nothing to search: wait for an answer, or for a game to arrive.
            pending.append(self._wake)
            cf.wait(pending, timeout=wait_seconds, return_when=cf.FIRST_COMPLETED)
            self._harvest(finished, dropped)
            self._show_moves()
        return finished, dropped

    def start_game(
        self,
        pairing: Pairing,
        *,
        game_id: str | None = None,
        watcher: GameWatcher | None = None,
    ) -> GameView:
        """Start a game beside the drawn ones; safe from any thread. Returns its view
        before the first move (its id is `game_id` if given, which must be new).

        A blocking first player is asked at once, so that a person who sees an empty
        board and their turn can move straight away. `step` takes the game in.
        """
        with self._arrivals_lock:
            game_id = game_id if game_id is not None else f"g{next(self._ids)}"
            if game_id in self._live or any(g.game_id == game_id for g in self._arrivals):
                raise ValueError(f"game id {game_id!r} is already in use")
            game = _LiveGame(game_id, pairing, Position(self.rules), drawn=False, watcher=watcher)
            first = pairing.player(game.position.to_play)
            if first.blocking:
                game.pending = first.begin_move(self._request(game, copy=True), self._pool)
            view = self._view(game)
            self._arrivals.append(game)
            if not self._wake.done():
                self._wake.set_result(None)
        return view

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
            if at_learner_seat and not self._advice_ready(game):
                continue  # an adviser is still thinking about this move
            by_player.setdefault(id(player), (player, []))[1].append(game)
        asked = 0
        for player, games in by_player.values():
            requests = [self._request(g) for g in games]
            asked += len(requests)
            learner_games = sum(g.position.to_play in g.pairing.learner_colours for g in games)
            if learner_games:
                self.learner_calls += 1
                self.learner_requests += learner_games
                self.learner_largest = max(self.learner_largest, learner_games)
            started = time.perf_counter()
            try:
                choices = player.select_moves(requests)
            except PlayerError as exc:
                for g in games:
                    dropped.append(self._drop(g, f"{player.name} failed: {exc}"))
                continue
            except Exception as exc:
                # A member's bug voids its games, as on the worker threads; the learner's
                # own bug is raised (dropping all its games would hide it) unless the
                # runner serves people, who should see their game stop, not the server.
                if learner_games:
                    if not self.void_on_learner_error:
                        raise
                    self.learner_failures += 1
                log.exception("player %s crashed", player.name)
                reason = f"{player.name} failed: {type(exc).__name__}: {exc}"
                for g in games:
                    dropped.append(self._drop(g, reason))
                continue
            finally:
                if learner_games:
                    self.learner_seconds += time.perf_counter() - started
            for g, choice in zip(games, choices, strict=True):
                self._apply(g, choice, finished, dropped)
        return asked

    def _await_learner_games(self, finished: list[Game], dropped: list[DroppedGame]) -> None:
        """Apply the answers that arrived since the step's harvest; then, with
        `learner_wait`, wait up to that long for more while fewer than `learner_min_fill`
        of the games where the learner moves next are ready for its search."""
        started = time.monotonic()
        deadline = started + self.learner_wait
        while True:
            self._harvest(finished, dropped)
            ready, waiting = self._learner_games()
            remaining = deadline - time.monotonic()
            if (
                not waiting
                or remaining <= 0
                or ready >= self.learner_min_fill * (ready + len(waiting))
            ):
                break
            cf.wait(waiting, timeout=remaining, return_when=cf.FIRST_COMPLETED)
        if self.learner_wait > 0:
            self.learner_wait_seconds += time.monotonic() - started
        self._submit_blocking()  # a game whose next seat is blocking after all

    def _learner_games(self) -> tuple[int, list[cf.Future[Any]]]:
        """Games where a learning seat is to move and can be searched now, and the answers
        the others wait for: a blocking opponent's move, or advice for the learner."""
        ready = 0
        waiting: list[cf.Future[Any]] = []
        for game in self._live.values():
            learners = game.pairing.learner_colours
            to_play = game.position.to_play
            if game.pending is not None:
                if -to_play in learners:
                    waiting.append(game.pending)
            elif to_play in learners and not game.pairing.player(to_play).blocking:
                advice = game.advice_pending[1] if game.advice_pending is not None else None
                if advice is not None and not advice.done():  # taken in by `_serve`
                    waiting.append(advice)
                else:
                    ready += 1
        return ready, waiting

    def _advice_ready(self, game: _LiveGame) -> bool:
        """Settle the advice for the learner's move now due; False while a blocking
        adviser is still working on it. Drawn once per move, from the game's own plan."""
        plan = game.pairing.advice
        if plan is None:
            return True
        ply = len(game.moves)
        if game.advice_ply != ply:
            game.advice_ply, game.advice = ply, None
            if game.advice_rng is None:
                game.advice_rng = plan.rng()
            adviser = plan.draw(game.advice_rng)
            if adviser is None:
                return True
            game.advisers_used[id(adviser)] = adviser
            request = AdviceRequest(game.game_id, game.position.copy(), _opponent_player(game))
            if adviser.blocking:
                game.advice_pending = (adviser, self._pool.submit(adviser.advise, request))
                return False
            game.advice = self._advice_of(game, adviser, functools.partial(adviser.advise, request))
            return True
        if game.advice_pending is not None:
            adviser, future = game.advice_pending
            if not future.done():
                return False
            game.advice_pending = None
            game.advice = self._advice_of(game, adviser, future.result)
        return True

    @staticmethod
    def _advice_of(
        game: _LiveGame, adviser: Adviser, answer: Callable[[], int | None]
    ) -> Advice | None:
        """The adviser's answer as Advice, or None when it failed or named an illegal move
        (advice is an extra: it never voids a game)."""
        try:
            point = answer()
        except Exception as exc:
            log.warning("adviser %s failed in game %s: %s", adviser.name, game.game_id, exc)
            return None
        if point is None:
            return None
        legal = game.position.legal_mask()
        if isinstance(point, bool) or not 0 <= int(point) < len(legal) or not legal[int(point)]:
            log.warning(
                "adviser %s suggested %r, not a legal move in game %s; no advice given",
                adviser.name,
                point,
                game.game_id,
            )
            return None
        return Advice(int(point), adviser.source, adviser.name)

    def _submit_blocking(self) -> None:
        """Ask every blocking player whose turn it is, off this thread (`begin_move`)."""
        for game in self._live.values():
            if game.pending is not None:
                continue
            player = game.pairing.player(game.position.to_play)
            if player.blocking:
                game.pending = player.begin_move(self._request(game, copy=True), self._pool)

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
            advice=game.advice if colour in game.pairing.learner_colours else None,
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
        if self.next_pairing is None:
            return
        drawn = sum(1 for g in self._live.values() if g.drawn)
        while drawn < self.concurrency and self._budget != 0:
            game_id = f"g{next(self._ids)}"
            self._live[game_id] = _LiveGame(game_id, self.next_pairing(), Position(self.rules))
            drawn += 1
            if self._budget is not None:
                self._budget -= 1

    def _take_arrivals(self) -> None:
        """Take in the games started from other threads since the last step."""
        with self._arrivals_lock:
            arrivals, self._arrivals = self._arrivals, []
            if self._wake.done():
                self._wake = cf.Future()
        for game in arrivals:
            self._live[game.game_id] = game

    def _show_moves(self) -> None:
        """Show the watchers of started games the moves played since the last call.

        Called after the blocking players to move have been asked, so a watcher never
        sees a person's turn before the person's request exists."""
        moved, self._moved = self._moved, {}
        for game in moved.values():
            if game.game_id in self._live and game.watcher is not None:
                self._tell(game.watcher.moved, self._view(game))

    def _view(self, game: _LiveGame) -> GameView:
        record = self._record(game, IN_PROGRESS, 0, capped=False)
        return GameView(game.game_id, game.position.copy(), record)

    def _record(self, game: _LiveGame, result: str, winner: int, *, capped: bool) -> Game:
        """The one place a `Game` record is built: for a finished game, and for a game in
        progress (result "?"), which the web page offers as SGF."""
        return Game(
            rules=self.rules,
            black=game.pairing.black.name,
            white=game.pairing.white.name,
            moves=tuple(game.moves),
            result=result,
            winner=winner,
            date=dt.date.today().isoformat(),
            agent_colour=game.pairing.agent_colour,
            checkpoint=game.pairing.checkpoint,
            metadata=_metadata(game.pairing, self.source, capped=capped),
        )

    @staticmethod
    def _tell(callback: Callable[[_T], None], what: _T) -> None:
        """Call a watcher; its failure is logged, never the runner's."""
        try:
            callback(what)
        except Exception:
            log.exception("a game watcher failed")

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
                weights_step=choice.weights_step if learner else None,
                advice=game.advice if learner else None,
            )
        )
        game.advice = None
        if position.is_over or len(game.moves) >= self.max_moves:
            finished.append(self._finish(game))
        elif game.watcher is not None:
            self._moved[game.game_id] = game

    def _finish(self, game: _LiveGame) -> Game:
        del self._live[game.game_id]
        self._end(game)
        position = game.position
        record = self._record(
            game, position.result_string(), position.winner(), capped=not position.is_over
        )
        if game.watcher is not None:
            self._tell(game.watcher.finished, GameView(game.game_id, position, record))
        return record

    def _drop(self, game: _LiveGame, reason: str) -> DroppedGame:
        log.warning("dropping game %s after %d moves: %s", game.game_id, len(game.moves), reason)
        self._live.pop(game.game_id, None)
        self._end(game)
        dropped = DroppedGame(game.game_id, game.pairing, reason)
        if game.watcher is not None:
            self._tell(game.watcher.dropped, dropped)
        return dropped

    def _end(self, game: _LiveGame) -> None:
        for player in {id(p): p for p in (game.pairing.black, game.pairing.white)}.values():
            try:
                player.end_game(game.game_id)
            except Exception:
                log.exception("end_game failed for %s", player.name)
        if game.advice_pending is not None:
            game.advice_pending[1].cancel()
        for adviser in game.advisers_used.values():
            try:
                adviser.end_game(game.game_id)
            except Exception:
                log.exception("end_game failed for adviser %s", adviser.name)


def _metadata(pairing: Pairing, source: str, *, capped: bool) -> dict[str, str]:
    meta = {"source": source, "capped": str(capped)}
    if pairing.learner_colours and pairing.records_resignation:
        meta["resign_allowed"] = str(pairing.allow_resign)
    if pairing.weights_step is not None:
        meta["weights_step"] = str(pairing.weights_step)
    return meta


def _opponent(game: _LiveGame) -> str:
    """The name of the player in the other seat from the one to move."""
    return _opponent_player(game).name


def _opponent_player(game: _LiveGame) -> Player:
    """The player in the other seat from the one to move."""
    return game.pairing.player(-game.position.to_play)


def describe_move(point: int, size: int) -> str:
    """GTP text for a move, resignation included (for logs and progress lines)."""
    return "resign" if point == RESIGN else point_to_gtp(point, size)


__all__ = [
    "AGENT_NAME",
    "BLACK",
    "BOTH",
    "IN_PROGRESS",
    "WHITE",
    "DroppedGame",
    "GameView",
    "GameWatcher",
    "MatchRunner",
    "Pairing",
    "describe_move",
]
