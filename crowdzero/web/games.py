"""The games people are playing right now, as the web page sees them: secret tokens,
limits, JSON state, expiry, and the rules check that refuses a person's move with a reason.

The games themselves are played by the server's `MatchRunner` (`runner_thread.py`), the
same loop that plays training's games: a person is a `HumanPlayer` opposite the agent.
`GameTable.create` starts each game in the runner and watches it (it is the game's
`GameWatcher`): after every move the runner hands it the position and the record so far,
and when the game ends (two passes, a resignation, or the run's move limit) the finished
record the runner built (the person as the crowd member ``human:<nickname>``, the agent's
moves with their search policy and root value) is written to the run's store through
`on_finished`, so a trainer on the same run learns from it.

A person's move resolves their `HumanPlayer`'s request once the rules allow it; the
runner takes it in at its next step. One lock guards the table; it is held only for
bookkeeping (never during a search or a database write), so a slow search or a busy
store never blocks a request.

Abandoned games (no request for `idle_timeout` seconds): the person leaves, so the runner
drops the game without storing it, as training drops games it cannot finish: half a game
says nothing about who would have won.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from crowdzero.go.coords import BLACK, RESIGN, WHITE, gtp_to_point, point_to_gtp
from crowdzero.go.errors import CoordinateError, IllegalMove
from crowdzero.play.advice import AdvicePlan
from crowdzero.play.human import HumanPlayer, NotYourTurn
from crowdzero.play.match_runner import DroppedGame, GameView, MatchRunner, Pairing
from crowdzero.play.player import Player
from crowdzero.play.record import Game, Move
from crowdzero.players.advisers import SuggestionBox

log = logging.getLogger(__name__)

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


@dataclass
class WebGame:
    """One open game as the page sees it (mutable; only `GameTable` touches it, under its
    lock). `view` is the runner's latest view of the game; `in_flight` is set from the
    moment the person's move is accepted until the runner has taken it in."""

    game_id: str
    token: str
    nickname: str
    human_colour: int
    client: str
    touched: float
    person: HumanPlayer
    view: GameView
    checkpoint: str | None = None
    version: int = 0
    in_flight: bool = False
    finished_at: float | None = None
    record: Game | None = None
    store_id: int | None = None
    error: str | None = None

    @property
    def agent_colour(self) -> int:
        return -self.human_colour

    @property
    def over(self) -> bool:
        """Finished (stored, or its storing failed) or stopped by an error."""
        return self.record is not None or self.error is not None

    @property
    def agent_to_move(self) -> bool:
        return not self.over and (self.in_flight or self.view.position.to_play == self.agent_colour)

    @property
    def capped(self) -> bool:
        return self.record is not None and self.record.metadata.get("capped") == "True"


def check_token(game: WebGame, token: str) -> None:
    """Raise WrongToken unless `token` is the game's secret (compared in constant time)."""
    if not secrets.compare_digest(game.token.encode(), token.encode()):
        raise WrongToken("this game belongs to someone else (wrong or missing token)")


class GameTable:
    """Every open web game: who may move it, what the page shows, and when it expires.

    `agent` sits opposite every person; `checkpoint` names the weights it plays with now
    (recorded with each game it starts).
    """

    def __init__(
        self,
        runner: MatchRunner,
        agent: Player,
        *,
        on_finished: Callable[[Game], int],
        checkpoint: Callable[[], str | None] = lambda: None,
        max_open_per_client: int = 5,
        max_open_total: int = 500,
        idle_timeout: float = 1800.0,
        finished_ttl: float = 600.0,
        rng: np.random.Generator | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runner = runner
        self.agent = agent
        self.rules = runner.rules
        self.max_moves = runner.max_moves
        self.max_open_per_client = max_open_per_client
        self.max_open_total = max_open_total
        self.idle_timeout = idle_timeout
        self.finished_ttl = finished_ttl
        self._on_finished = on_finished
        self._checkpoint = checkpoint
        self._rng = rng if rng is not None else np.random.default_rng()
        self._clock = clock
        self._games: dict[str, WebGame] = {}
        self._lock = threading.Lock()
        #: What people typed for the agent's next move, per game (source "human").
        self.suggestions = SuggestionBox("web")

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
            person = HumanPlayer(HUMAN_PREFIX + nickname)
            checkpoint = self._checkpoint()
            black, white = (person, self.agent) if human == BLACK else (self.agent, person)
            pairing = Pairing(
                black,
                white,
                frozenset({-human}),
                checkpoint=checkpoint,
                records_resignation=False,
                # The person's typed suggestions: asked before every agent move, and used
                # only when there is one.
                advice=AdvicePlan(((self.suggestions, 1.0),)),
            )
            view = self.runner.start_game(pairing, game_id=game_id, watcher=self)
            game = WebGame(
                game_id=game_id,
                token=secrets.token_urlsafe(24),
                nickname=nickname,
                human_colour=human,
                client=client,
                touched=now,
                person=person,
                view=view,
                checkpoint=checkpoint,
            )
            self._games[game_id] = game
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

    def play(self, game_id: str, token: str, text: str) -> int:
        """The person plays `text` ("D4" or "pass"); raises a WebGameError saying why not.

        Returns the game's version: the runner has taken the move in once it has grown.
        """
        with self._lock:
            game = self._open_game(game_id, token)
            point = self._point(text, "to resign, use the resign request, not a move")
            self._hand_over(game, point, "it is the agent's move; wait for its reply")
            return game.version

    def advise(self, game_id: str, token: str, text: str) -> dict[str, Any]:
        """The person suggests `text` ("D4" or "pass") for the agent's next move; "" takes
        the suggestion back. Checked like a move: unreadable text, a point off the board
        or on a stone is refused with the reason, and nothing else changes. The agent
        hears it on its next move (if still legal then); returns the game's state."""
        with self._lock:
            game = self._open_game(game_id, token)
            text = text.strip()
            if not text:
                self.suggestions.withdraw(game_id)
                return self._state(game)
            point = self._point(text, "resigning is not a move to suggest")
            if game.agent_to_move:
                raise MoveRefused(
                    "the agent is already choosing this move; suggest its next one on your turn"
                )
            position = game.view.position
            if point < position.size * position.size and position.board[point] != 0:
                raise MoveRefused(f"IllegalMove: {point_to_gtp(point, position.size)} is occupied")
            self.suggestions.suggest(game_id, point)
            return self._state(game)

    def resign(self, game_id: str, token: str) -> int:
        """The person resigns (on their own turn: a resignation is a move); returns the
        version to wait past, as `play` does."""
        with self._lock:
            game = self._open_game(game_id, token)
            self._hand_over(game, RESIGN, "it is the agent's move; resign when it is yours")
            return game.version

    def record(self, game_id: str) -> Game:
        """The game as a record: the stored one when it is over, else the runner's record
        of the moves so far with result "?" (an SGF of a game in progress)."""
        with self._lock:
            game = self._get(game_id)
            game.touched = self._clock()
            return game.record if game.record is not None else game.view.record

    # ------------------------------------------------------------------ the runner

    def moved(self, view: GameView) -> None:
        """The runner played a move in a web game (its thread)."""
        with self._lock:
            game = self._games.get(view.game_id)
            if game is None:
                return
            game.view = view
            game.in_flight = False
            game.version += 1

    def finished(self, view: GameView) -> None:
        """A web game ended: store the runner's record (outside the lock), then show it.

        The version moves on only once the game is stored, so a long poll wakes up to a
        finished game that already has its store id.
        """
        try:
            store_id: int | None = self._on_finished(view.record)
        except Exception as e:
            log.exception("could not store web game %s", view.game_id)
            store_id = None
            error: str | None = f"the game could not be saved: {e}"
        else:
            error = None
        with self._lock:
            game = self._games.get(view.game_id)
            if game is None:
                return
            game.view = view
            game.record = view.record
            game.store_id = store_id
            game.error = error
            game.in_flight = False
            game.finished_at = self._clock()
            game.version += 1

    def dropped(self, dropped: DroppedGame) -> None:
        """The runner voided a web game (the agent failed, the person left)."""
        with self._lock:
            game = self._games.get(dropped.game_id)
            if game is None or game.over:
                return
            log.error("web game %s stopped: %s", game.game_id, dropped.reason)
            game.error = dropped.reason
            game.in_flight = False
            game.finished_at = self._clock()
            game.version += 1

    # ------------------------------------------------------------------ housekeeping

    def expire(self) -> list[str]:
        """Drop games idle longer than `idle_timeout` (their person leaves, so the runner
        voids them) and finished games older than `finished_ttl`; returns the ids dropped."""
        now = self._clock()
        left: list[HumanPlayer] = []
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
                    log.info("web game %s of %s expired unfinished", game_id, game.person.name)
                    left.append(game.person)
        for person in left:
            person.leave(f"the person left (no request for {self.idle_timeout:g} s)")
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

    def _open_game(self, game_id: str, token: str) -> WebGame:
        """The game `token` may act on, still open (caller holds the lock)."""
        game = self._get(game_id)
        check_token(game, token)
        game.touched = self._clock()
        self._check_open(game)
        return game

    def _point(self, text: str, no_resign: str) -> int:
        """A point (or pass) from the person's GTP text; UnreadableMove says why not."""
        try:
            point = gtp_to_point(text, self.rules.size)
        except CoordinateError as e:
            raise UnreadableMove(str(e)) from None
        if point == RESIGN:
            raise UnreadableMove(no_resign)
        return point

    @staticmethod
    def _check_open(game: WebGame) -> None:
        if game.over or game.view.position.is_over:
            raise MoveRefused("the game is over")

    @staticmethod
    def _hand_over(game: WebGame, point: int, not_yours: str) -> None:
        """Give the person's move to their player, which checks it against the rules.
        Caller holds the lock."""
        if game.agent_to_move:
            raise MoveRefused(not_yours)
        try:
            game.person.play(point)
        except NotYourTurn:
            raise MoveRefused(not_yours) from None
        except IllegalMove as e:
            raise MoveRefused(str(e)) from None
        game.in_flight = True

    def _state(self, game: WebGame) -> dict[str, Any]:
        pending = None if game.over else self.suggestions.pending(game.game_id)
        position = game.view.position
        moves = game.view.record.moves
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
            "black": game.view.record.black,
            "white": game.view.record.white,
            "board": board_text(position.board),
            "to_play": _COLOUR_WORD[position.to_play],
            "moves": [move_json(m, size) for m in moves],
            "last_move": move_text(moves[-1].point, size) if moves else None,
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
            "advice": None if pending is None else move_text(pending, size),
        }


def board_text(board: np.ndarray) -> str:
    """The board as one string in point order: "B", "W" or "." per point."""
    return "".join(_BOARD_CHAR[int(v)] for v in board)


def move_text(point: int, size: int) -> str:
    """GTP text of a recorded move: "D4", "pass" or "resign"."""
    return point_to_gtp(point, size)


def move_json(move: Move, size: int) -> dict[str, Any]:
    """A recorded move as the page shows it (no policy: that stays in the store), with
    the advice the mover heard, if any."""
    shown: dict[str, Any] = {
        "colour": _COLOUR_WORD[move.colour],
        "move": move_text(move.point, size),
        "player": move.player,
    }
    if move.advice is not None:
        shown["advice"] = move_text(move.advice.point, size)
        shown["advice_source"] = move.advice.source
    return shown
