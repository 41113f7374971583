"""Finished web games, read back from the run's store for the history list and replays.

The store is the one source of truth, so the history is read from it, not from the
server's memory: games stay visible after a restart, and games another server wrote to
the same run appear too. The list is kept as small summaries and brought up to date
incrementally (only games newer than the last one seen are read), so listing stays cheap
however long the run is. A replay is computed on the server by playing the stored moves
through the rules engine, so the page needs no Go rules of its own to show captures.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.position import Position
from crowdzero.play.record import Game
from crowdzero.store.game_store import GameNotFound, GameStore
from crowdzero.web.games import HUMAN_PREFIX, SOURCE, board_text, move_json

_COLOUR_WORD = {BLACK: "black", WHITE: "white", 0: "draw"}


@dataclass(frozen=True)
class GameSummary:
    """One line of the history list."""

    store_id: int
    black: str
    white: str
    size: int
    result: str
    winner: int
    moves: int
    date: str

    def involves(self, player: str) -> bool:
        return player in (self.black, self.white)

    def to_json(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "black": self.black,
            "white": self.white,
            "size": self.size,
            "result": self.result,
            "winner": _COLOUR_WORD.get(self.winner, "draw"),
            "moves": self.moves,
            "date": self.date,
        }


class WebHistory:
    """The finished web games of one store (source "web"), newest first."""

    def __init__(self, store: GameStore) -> None:
        self.store = store
        self._summaries: dict[int, GameSummary] = {}
        self._last_id = 0
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Read the web games stored since the last refresh."""
        with self._lock:
            for store_id, game in self.store.iter_games(since_id=self._last_id, source=SOURCE):
                self._summaries[store_id] = _summary(store_id, game)
                self._last_id = max(self._last_id, store_id)

    def list(self, nickname: str | None = None, limit: int = 50) -> list[GameSummary]:
        """The newest `limit` finished web games, only `nickname`'s when given."""
        self.refresh()
        with self._lock:
            summaries = sorted(self._summaries.values(), key=lambda s: -s.store_id)
        if nickname is not None:
            name = HUMAN_PREFIX + nickname
            summaries = [s for s in summaries if s.involves(name)]
        return summaries[:limit]

    def game(self, store_id: int) -> Game:
        """A finished web game; GameNotFound for ids that are not web games."""
        self.refresh()
        with self._lock:
            known = store_id in self._summaries
        if not known:
            raise GameNotFound(f"there is no finished web game {store_id}")
        return self.store.get_game(store_id)


def _summary(store_id: int, game: Game) -> GameSummary:
    return GameSummary(
        store_id=store_id,
        black=game.black,
        white=game.white,
        size=game.rules.size,
        result=game.result,
        winner=game.winner,
        moves=len(game.moves),
        date=game.date,
    )


def replay_json(store_id: int, game: Game) -> dict[str, Any]:
    """A stored game with the board after every move, for the replay slider.

    ``frames[0]`` is the empty board and ``frames[i]`` the board after move ``i``, each
    with the captures so far, so the page steps through it without Go rules of its own.
    """
    size = game.rules.size
    position = Position(game.rules)
    frames = [_frame(position, None)]
    for move in game.moves:
        if move.point == RESIGN:
            position.resign()
        else:
            position.play(move.point)
        frames.append(_frame(position, move.point))
    return {
        **_summary(store_id, game).to_json(),
        "komi": game.rules.komi,
        "agent_colour": _COLOUR_WORD.get(game.agent_colour, "none"),
        "checkpoint": game.checkpoint,
        "move_list": [move_json(m, size) for m in game.moves],
        "frames": frames,
    }


def _frame(position: Position, point: int | None) -> dict[str, Any]:
    return {
        "board": board_text(position.board),
        "captures": {"black": position.captures[BLACK], "white": position.captures[WHITE]},
        "last_point": point if point is not None and 0 <= point < position.size**2 else None,
    }
