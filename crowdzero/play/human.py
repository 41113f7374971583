"""A person at the board: a `Player` whose moves arrive from outside the runner.

The match runner asks a person for a move like any blocking player, and gets a future
back (`begin_move`) that holds no thread while the person thinks. The move arrives later
on another thread (the web page's request handler), which calls `play`: the move is
checked against the rules first, so the person is told at once why it is refused
(occupied, suicide, ko) and the runner only ever receives a legal move. A person who
leaves (`leave`: an abandoned game) fails the future with PlayerError, and the runner
drops the game as it drops the game of an engine that died: half a game is not kept.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading

from crowdzero.go.coords import RESIGN
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError


class NotYourTurn(RuntimeError):
    """The person moved while no move was asked of them (the other side is to move, or
    their last move has not been taken in yet)."""


class HumanPlayer(Player):
    """One person in one game; their moves come from `play` on any thread."""

    blocking = True

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._turn: tuple[MoveRequest, cf.Future[MoveChoice]] | None = None
        self._gone: str | None = None

    def begin_move(self, request: MoveRequest, executor: cf.Executor) -> cf.Future[MoveChoice]:
        """The runner asks for a move: a future that `play` (or `leave`) resolves; no
        worker thread waits on it."""
        return self._ask(request)

    def select_move(self, request: MoveRequest) -> MoveChoice:
        """Wait for the person's move (for callers that give a person a thread)."""
        return self._ask(request).result()

    def _ask(self, request: MoveRequest) -> cf.Future[MoveChoice]:
        future: cf.Future[MoveChoice] = cf.Future()
        with self._lock:
            if self._gone is not None:
                future.set_exception(PlayerError(self._gone))
            else:
                self._turn = (request, future)
        return future

    @property
    def to_move(self) -> bool:
        """Whether a move is asked of the person right now."""
        with self._lock:
            return self._turn is not None

    def play(self, point: int) -> Position:
        """The person's move (a point, N*N to pass, or RESIGN): checked by the rules, then
        handed to the runner. Returns the position after it.

        NotYourTurn when no move is asked of the person; IllegalMove, with the rules'
        reason, when the rules forbid it (the request stays open for another try).
        """
        with self._lock:
            if self._turn is None:
                raise NotYourTurn("no move is asked of this player now")
            request, future = self._turn
            after = request.position.copy()
            if point == RESIGN:
                after.resign()
            else:
                after.play(point)
            self._turn = None
        future.set_result(MoveChoice(point))
        return after

    def leave(self, reason: str) -> None:
        """The person is gone: the move asked (and any asked later) fails with PlayerError."""
        with self._lock:
            self._gone = reason
            turn, self._turn = self._turn, None
        if turn is not None:
            turn[1].set_exception(PlayerError(reason))

    def end_game(self, game_id: str) -> None:
        with self._lock:
            self._turn = None
