"""The games people are playing right now: state, secret tokens, rules checks, expiry.

A `GameTable` holds every open web game in memory. People's moves arrive on request
threads; the agent's moves come from one worker thread (`agent_worker.py`) that asks the
table for every game where the agent is to move, searches them all at once and hands the
answers back. One lock guards the table; it is held only for bookkeeping (never during a
search or a database write), so a slow search or a busy store never blocks a request.

Every move, the person's and the agent's, goes through the rules engine (`Position.play`)
before it is recorded. A game that ends (two passes, a resignation, or the run's move
limit) becomes a `Game` record exactly like a crowd game from training: the person is
the crowd member ``human:<nickname>``, the agent's moves carry their search policy and
root value, and `agent_colour` says which seat learns. It is then written to the run's
store through `on_finished`, so a trainer on the same run learns from it.

Abandoned games (no request for `idle_timeout` seconds) are dropped without being
stored, as training drops games it cannot finish: half a game says nothing about who
would have won.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.errors import CoordinateError, IllegalMove
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveChoice
from crowdzero.play.record import Game, Move

log = logging.getLogger(__name__)

#: The learning agent's name in the store, as in training (`training_run.AGENT_NAME`).
AGENT_NAME = "agent"
HUMAN_PREFIX = "human:"
SOURCE = "web"

_COLOUR_WORD = {BLACK: "black", WHITE: "white"}
_BOARD_CHAR = {BLACK: "B", WHITE: "W", 0: "."}


class WebGameError(Exception):
    """A request about a web game that cannot be done; the message is shown to the person."""


class GameNotFound(WebGameError, LookupError):
    """No open game has this id (it never existed, or it expired)."""


class WrongToken(WebGameError):
    """The request does not carry the game's secret token."""


class MoveRefused(WebGameError):
    """The rules or the turn forbid the move: occupied, suicide, ko, the agent's move,
    the game is over."""


class InvalidRequest(WebGameError):
    """A request the server cannot act on (a board size the run does not play, a bad
    nickname filter)."""


class UnreadableMove(InvalidRequest):
    """The move text names no point on this board ("Z9", "J12" on 9x9, "hello")."""


class TooManyGames(WebGameError):
    """This client already has as many open games as it may."""


class ServerFull(WebGameError):
    """The server has as many open games as it will hold."""


@dataclass(frozen=True)
class AgentTurn:
    """A game waiting for the agent: its id, a private copy of the position, and the ply
    the reply is for (a reply is applied only if the game has not moved on meanwhile)."""

    game_id: str
    position: Position
    ply: int


@dataclass
class WebGame:
    """One open game (mutable; only `GameTable` touches it, under its lock)."""

    game_id: str
    token: str
    nickname: str
    human_colour: int
    position: Position
    client: str
    touched: float
    moves: list[Move] = field(default_factory=list)
    version: int = 0
    checkpoint: str | None = None
    capped: bool = False
    finished_at: float | None = None
    record: Game | None = None
    store_id: int | None = None
    error: str | None = None

    @property
    def agent_colour(self) -> int:
        return -self.human_colour

    @property
    def human_name(self) -> str:
        return HUMAN_PREFIX + self.nickname

    @property
    def over(self) -> bool:
        """Finished (stored or being stored) or stopped by an error."""
        return self.record is not None or self.error is not None

    @property
    def agent_to_move(self) -> bool:
        return not self.over and self.position.to_play == self.agent_colour

    def player_name(self, colour: int) -> str:
        return AGENT_NAME if colour == self.agent_colour else self.human_name


def check_token(game: WebGame, token: str) -> None:
    """Raise WrongToken unless `token` is the game's secret (compared in constant time)."""
    if not secrets.compare_digest(game.token.encode(), token.encode()):
        raise WrongToken("this game belongs to someone else (wrong or missing token)")


class GameTable:
    """Every open web game, the rules checks on people's moves, and the agent's queue."""

    def __init__(
        self,
        rules: Rules,
        *,
        on_finished: Callable[[Game], int],
        max_moves: int,
        max_open_per_client: int = 5,
        max_open_total: int = 500,
        idle_timeout: float = 1800.0,
        finished_ttl: float = 600.0,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rules = rules
        self.max_moves = max_moves
        self.max_open_per_client = max_open_per_client
        self.max_open_total = max_open_total
        self.idle_timeout = idle_timeout
        self.finished_ttl = finished_ttl
        self._on_finished = on_finished
        self._rng = rng if rng is not None else np.random.default_rng()
        self._clock = clock
        self._games: dict[str, WebGame] = {}
        self._lock = threading.Lock()
        self._agent_work = threading.Condition(self._lock)
        self._ended: list[str] = []  # games the agent may forget (drained by the worker)

    # ------------------------------------------------------------------ people

    def create(self, nickname: str, size: int, colour: str, client: str) -> dict[str, Any]:
        """Open a game for `nickname` ("black", "white" or "random" for the person).

        Returns the game's state plus its id and secret token (shown only this once).
        """
        if size != self.rules.size:
            n = self.rules.size
            raise InvalidRequest(f"this run plays {n}x{n} only, not {size}x{size}")
        if colour == "random":
            human = BLACK if self._rng.random() < 0.5 else WHITE
        elif colour in ("black", "white"):
            human = BLACK if colour == "black" else WHITE
        else:
            raise ValueError(f"colour must be black, white or random, not {colour!r}")
        now = self._clock()
        with self._lock:
            open_games = [g for g in self._games.values() if not g.over]
            mine = sum(1 for g in open_games if g.client == client)
            if mine >= self.max_open_per_client:
                raise TooManyGames(
                    f"you already have {mine} open games; finish or resign one first"
                )
            if len(open_games) >= self.max_open_total:
                raise ServerFull("the server is full right now; please try again in a while")
            game_id = secrets.token_urlsafe(12)
            while game_id in self._games:
                game_id = secrets.token_urlsafe(12)
            game = WebGame(
                game_id=game_id,
                token=secrets.token_urlsafe(24),
                nickname=nickname,
                human_colour=human,
                position=Position(self.rules),
                client=client,
                touched=now,
            )
            self._games[game_id] = game
            if game.agent_to_move:
                self._agent_work.notify_all()
            state = self._state(game)
        state["token"] = game.token
        return state

    def state(self, game_id: str) -> dict[str, Any]:
        """The public state of a game (board, turn, moves, captures, result...)."""
        with self._lock:
            game = self._get(game_id)
            game.touched = self._clock()
            return self._state(game)

    def version(self, game_id: str) -> int:
        """A number that grows with every change to the game (for long polling)."""
        with self._lock:
            return self._get(game_id).version

    def play(self, game_id: str, token: str, text: str) -> dict[str, Any]:
        """The person plays `text` ("D4" or "pass"); raises a WebGameError saying why not."""
        with self._lock:
            game = self._get(game_id)
            check_token(game, token)
            game.touched = self._clock()
            self._check_open(game)
            try:
                point = gtp_to_point(text, self.rules.size)
            except CoordinateError as e:
                raise UnreadableMove(str(e)) from None
            if point == RESIGN:
                raise UnreadableMove("to resign, use the resign request, not a move")
            if game.agent_to_move:
                raise MoveRefused("it is the agent's move; wait for its reply")
            try:
                game.position.play(point)
            except IllegalMove as e:
                raise MoveRefused(str(e)) from None
            record = self._after_move(game, point, None)
            if record is None:
                state = self._state(game)
        if record is not None:
            return self._store(game, record)
        return state

    def resign(self, game_id: str, token: str) -> dict[str, Any]:
        """The person resigns (on their own turn: a resignation is a move)."""
        with self._lock:
            game = self._get(game_id)
            check_token(game, token)
            game.touched = self._clock()
            self._check_open(game)
            if game.agent_to_move:
                raise MoveRefused("it is the agent's move; resign when it is yours")
            game.position.resign()
            record = self._after_move(game, RESIGN, None)
        assert record is not None
        return self._store(game, record)

    def record(self, game_id: str) -> Game:
        """The game as a record: the stored one when it is over, else the moves so far
        with result "?" (an SGF of a game in progress)."""
        with self._lock:
            game = self._get(game_id)
            game.touched = self._clock()
            if game.record is not None:
                return game.record
            return self._make_record(game, result="?", winner=0)

    # ------------------------------------------------------------------ the agent

    def agent_turns(self, timeout: float) -> list[AgentTurn]:
        """Every game where the agent is to move, waiting up to `timeout` s for one."""
        with self._agent_work:
            turns = self._pending()
            if not turns and timeout > 0:
                self._agent_work.wait(timeout)
                turns = self._pending()
            return turns

    def _pending(self) -> list[AgentTurn]:
        return [
            AgentTurn(g.game_id, g.position.copy(), len(g.moves))
            for g in self._games.values()
            if g.agent_to_move
        ]

    def apply_agent_move(self, turn: AgentTurn, choice: MoveChoice, checkpoint: str | None) -> None:
        """Play the agent's answer for `turn`, unless the game moved on or went away."""
        with self._lock:
            game = self._games.get(turn.game_id)
            if game is None or not game.agent_to_move or len(game.moves) != turn.ply:
                return
            point = int(choice.point)
            try:
                if point == RESIGN:
                    game.position.resign()
                else:
                    game.position.play(point)
            except IllegalMove as e:
                self._fail(game, f"the agent chose an illegal move ({e})")
                return
            game.checkpoint = checkpoint
            record = self._after_move(game, point, choice)
        if record is not None:
            self._store(game, record)

    def fail_agent(self, turn: AgentTurn, reason: str) -> None:
        """The agent could not answer `turn`: stop that game (it is not stored)."""
        with self._lock:
            game = self._games.get(turn.game_id)
            if game is not None and not game.over:
                self._fail(game, reason)

    def ended_games(self) -> list[str]:
        """Ids of games that ended or went away since the last call (for the agent to forget)."""
        with self._lock:
            ended, self._ended = self._ended, []
            return ended

    def wake_agent(self) -> None:
        """Wake the worker waiting in `agent_turns` (used when shutting down)."""
        with self._agent_work:
            self._agent_work.notify_all()

    # ------------------------------------------------------------------ housekeeping

    def expire(self) -> list[str]:
        """Drop games idle longer than `idle_timeout` and finished games older than
        `finished_ttl`; returns the ids dropped."""
        now = self._clock()
        with self._lock:
            gone = [
                g.game_id
                for g in self._games.values()
                if (g.finished_at is None and now - g.touched > self.idle_timeout)
                or (g.finished_at is not None and now - g.finished_at > self.finished_ttl)
            ]
            for game_id in gone:
                game = self._games.pop(game_id)
                if game.finished_at is None:
                    log.info("web game %s of %s expired unfinished", game_id, game.human_name)
                    self._ended.append(game_id)
            return gone

    def open_games(self) -> int:
        """Games not yet over."""
        with self._lock:
            return sum(1 for g in self._games.values() if not g.over)

    def __len__(self) -> int:
        with self._lock:
            return len(self._games)

    # ------------------------------------------------------------------ internals

    def _get(self, game_id: str) -> WebGame:
        game = self._games.get(game_id)
        if game is None:
            raise GameNotFound("there is no such game (it may have expired)")
        return game

    @staticmethod
    def _check_open(game: WebGame) -> None:
        if game.over or game.position.is_over:
            raise MoveRefused("the game is over")

    def _after_move(self, game: WebGame, point: int, choice: MoveChoice | None) -> Game | None:
        """Record the move just played on `game.position`; the finished record if it ended.

        Caller holds the lock.
        """
        colour = game.position.moves[-1][0] if point != RESIGN else game.position.resigned
        policy = root_value = None
        if choice is not None and choice.policy is not None:
            policy = tuple(float(x) for x in np.asarray(choice.policy, dtype=np.float32))
        if choice is not None and choice.root_value is not None:
            root_value = float(choice.root_value)
        game.moves.append(Move(colour, point, policy, root_value, player=game.player_name(colour)))
        if not game.position.is_over and len(game.moves) < self.max_moves:
            game.version += 1
            if game.agent_to_move:
                self._agent_work.notify_all()
            return None
        # The game is over. The version moves on only once it is stored (`_store`), so a
        # long poll wakes up to a finished game that already has its store id.
        game.capped = not game.position.is_over
        position = game.position
        game.record = self._make_record(game, position.result_string(), position.winner())
        game.finished_at = self._clock()
        self._ended.append(game.game_id)
        return game.record

    def _make_record(self, game: WebGame, result: str, winner: int) -> Game:
        return Game(
            rules=self.rules,
            black=game.player_name(BLACK),
            white=game.player_name(WHITE),
            moves=tuple(game.moves),
            result=result,
            winner=winner,
            date=dt.date.today().isoformat(),
            agent_colour=game.agent_colour,
            checkpoint=game.checkpoint,
            metadata={"source": SOURCE, "capped": str(game.capped)},
        )

    def _store(self, game: WebGame, record: Game) -> dict[str, Any]:
        """Write a finished game to the store (outside the lock); returns its state."""
        try:
            store_id: int | None = self._on_finished(record)
        except Exception as e:
            log.exception("could not store web game %s", game.game_id)
            store_id = None
            error: str | None = f"the game could not be saved: {e}"
        else:
            error = None
        with self._lock:
            game.store_id = store_id
            if error is not None:
                game.error = error
            game.version += 1
            return self._state(game)

    def _fail(self, game: WebGame, reason: str) -> None:
        log.error("web game %s stopped: %s", game.game_id, reason)
        game.error = reason
        game.finished_at = self._clock()
        game.version += 1
        self._ended.append(game.game_id)

    def _state(self, game: WebGame) -> dict[str, Any]:
        position = game.position
        size = position.size
        over = game.over
        score = None
        if game.record is not None and not position.resigned:
            black_area, white_area = position.area_counts()
            score = {
                "black_area": black_area,
                "white_area": white_area,
                "komi": position.komi,
                "margin": black_area - white_area - position.komi,
            }
        if game.error is not None and game.record is None:
            status = "stopped"
        elif over:
            status = "over"
        elif game.agent_to_move:
            status = "agent_thinking"
        else:
            status = "your_move"
        winner = None
        if game.record is not None:
            winner = _COLOUR_WORD.get(game.record.winner, "draw")
        return {
            "game_id": game.game_id,
            "nickname": game.nickname,
            "size": size,
            "komi": position.komi,
            "human_colour": _COLOUR_WORD[game.human_colour],
            "agent_colour": _COLOUR_WORD[game.agent_colour],
            "black": game.player_name(BLACK),
            "white": game.player_name(WHITE),
            "board": board_text(position.board),
            "to_play": _COLOUR_WORD[position.to_play],
            "moves": [move_json(m, size) for m in game.moves],
            "last_move": move_text(game.moves[-1].point, size) if game.moves else None,
            "captures": {
                "black": position.captures[BLACK],
                "white": position.captures[WHITE],
            },
            "status": status,
            "agent_thinking": status == "agent_thinking",
            "over": over,
            "result": None if game.record is None else game.record.result,
            "winner": winner,
            "score": score,
            "capped": game.capped,
            "max_moves": self.max_moves,
            "store_id": game.store_id,
            "checkpoint": game.checkpoint,
            "error": game.error,
            "version": game.version,
        }


def board_text(board: np.ndarray) -> str:
    """The board as one string in point order: "B", "W" or "." per point."""
    return "".join(_BOARD_CHAR[int(v)] for v in board)


def move_text(point: int, size: int) -> str:
    """GTP text of a recorded move: "D4", "pass" or "resign"."""
    return point_to_gtp(point, size)


def move_json(move: Move, size: int) -> dict[str, Any]:
    """A recorded move as the page shows it (no policy: that stays in the store)."""
    return {
        "colour": _COLOUR_WORD[move.colour],
        "move": move_text(move.point, size),
        "player": move.player,
    }
