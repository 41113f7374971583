"""A pool of GTP engine processes shared by many concurrent games.

The match runner plays dozens of games at once, and any number of them may sit across
from, say, GnuGo level 3. One engine process per game would fork dozens of engines onto
two cores; one engine for all of them would serialise every game behind it. The pool
keeps a few processes of one command line and lends them out per move:

* a request borrows an idle engine (waiting, up to `borrow_timeout`, while all are
  busy), syncs it to the request's position, asks `genmove`, and returns it;
* an engine remembers the game it last served (`SyncedEngine`, shared with
  `GtpPlayer`), and a game prefers that engine, so the usual cost of a move is one
  ``play`` and one ``genmove``; on another engine the game is replayed from the start,
  which costs a few milliseconds;
* an engine that dies, hangs past its per-command deadline or stops speaking GTP while
  serving a game is killed and replaced by a fresh process; that one game gets a
  `PlayerError` (the runner drops it) and every other game carries on. An engine found
  dead while idle is restarted silently on its next use: no game was waiting on it.

`PooledEnginePlayer` puts a pool behind the `Player` interface (``blocking = True``:
the runner calls it from worker threads). `gnugo_player`, `pachi_player` and
`katago_player` build the three crowd engines; `pooled_gnugo` / `pooled_pachi` /
`pooled_katago` are the registry factories for the ``gnugo:LEVEL``,
``pachi:PLAYOUTS`` and ``katago:VISITS`` specs.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType

from crowdzero.go.gtp_client import DEFAULT_TIMEOUT, GtpClient, GtpClientError
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.players.engines import (
    EngineConfig,
    gnugo_config,
    katago_config,
    katago_move_timeout,
    pachi_config,
)
from crowdzero.players.gtp_player import SyncedEngine

DEFAULT_POOL_SIZE = 2
"""One engine per core: more processes than cores only share the same two cores."""

KATAGO_POOL_SIZE = 1
"""One KataGo process already runs two search threads and an OpenCL device that spreads
each network evaluation over every core: a second process would only take turns."""

DEFAULT_BORROW_TIMEOUT = 300.0
"""How long a game waits for a free engine before giving up (seconds).

Waiting is normal (many games, few engines); five minutes only trips when something is
badly wrong, since every engine is returned or replaced within its move deadline."""


@dataclass(frozen=True)
class EngineStatus:
    """A snapshot of one engine slot, for monitoring and tests.

    `serving` is the game whose move is being computed right now (None when idle);
    `last_game` the game the engine's board belongs to (its affinity).
    """

    index: int
    pid: int | None
    busy: bool
    serving: str | None
    last_game: str | None
    seed: int | None


class _Slot:
    """One engine process and its bookkeeping; guarded by the pool's condition."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.engine: SyncedEngine | None = None
        self.seed: int | None = None
        self.serving: str | None = None
        self.last_used = 0.0

    @property
    def busy(self) -> bool:
        return self.serving is not None

    def last_game(self) -> str | None:
        return None if self.engine is None else self.engine.game_id()


class EnginePool:
    """`size` engine processes of one command line (`config`), lent out per move.

    Engines start on first use. Process k (counting replacements) gets random seed
    ``seed + k``, so a run is repeatable while the engines of one pool differ.
    """

    def __init__(
        self,
        config: EngineConfig,
        size: int = DEFAULT_POOL_SIZE,
        *,
        move_timeout: float = DEFAULT_TIMEOUT,
        borrow_timeout: float = DEFAULT_BORROW_TIMEOUT,
        seed: int = 0,
    ) -> None:
        if size < 1:
            raise ValueError(f"an engine pool needs at least one engine, not {size}")
        if move_timeout <= 0 or borrow_timeout <= 0:
            raise ValueError("move_timeout and borrow_timeout must be positive")
        self.config = config
        self.name = config.name
        self.move_timeout = move_timeout
        self.borrow_timeout = borrow_timeout
        self._base_seed = seed
        self._started = 0
        self._replaced = 0
        self._closed = False
        self._slots = [_Slot(i) for i in range(size)]
        self._cond = threading.Condition()
        # Games waiting for an engine, first come first served: with many games on a
        # small pool (32 evaluation games on two GnuGo-10 engines) a free-for-all let
        # some games wait past the borrow timeout while others were served again and
        # again, and those games were voided.
        self._waiting: deque[object] = deque()

    # ------------------------------------------------------------------ public API

    @property
    def size(self) -> int:
        return len(self._slots)

    @property
    def replaced(self) -> int:
        """How many engines were killed and replaced because they failed a game."""
        with self._cond:
            return self._replaced

    def status(self) -> list[EngineStatus]:
        """What each engine is doing now."""
        with self._cond:
            return [
                EngineStatus(
                    index=slot.index,
                    pid=None if slot.engine is None else slot.engine.client.pid,
                    busy=slot.busy,
                    serving=slot.serving,
                    last_game=slot.last_game() if not slot.busy else None,
                    seed=slot.seed,
                )
                for slot in self._slots
            ]

    def genmove(self, game_id: str, position: Position) -> int:
        """The engine's move (a point, pass, or RESIGN) for the side to move.

        Raises PlayerError when no engine is free in time, when the engine serving this
        request fails (it is then replaced) or answers an illegal move, and for a board
        size the engine was not set up for.
        """
        if not self.config.plays_size(position.size):
            raise PlayerError(self.config.size_refusal(position.size))
        slot = self._borrow(game_id)
        failed = False
        try:
            engine = self._running_engine(slot)
            return engine.genmove(game_id, position)
        except GtpClientError as exc:
            failed = True
            raise PlayerError(f"{self.name} failed in game {game_id}: {exc}") from exc
        finally:
            if failed:
                self._replace(slot)
            self._return(slot)

    def end_game(self, game_id: str) -> None:
        """Drop the affinity of idle engines to a finished game (frees them first)."""
        with self._cond:
            for slot in self._slots:
                if not slot.busy and slot.engine is not None and slot.last_game() == game_id:
                    slot.engine.forget()

    def close(self) -> None:
        """Stop every engine; games still waiting for one get a PlayerError. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            # Busy engines are closed by their borrower when it returns them.
            idle = [slot for slot in self._slots if not slot.busy]
            engines = [slot.engine for slot in idle if slot.engine is not None]
            for slot in idle:
                slot.engine = None
        for engine in engines:
            engine.client.close()

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EnginePool({self.name!r}, size={self.size})"

    # ------------------------------------------------------------------ internals

    def _borrow(self, game_id: str) -> _Slot:
        """An idle engine for `game_id`, in the order the games asked (FIFO)."""
        deadline = time.monotonic() + self.borrow_timeout
        ticket = object()
        with self._cond:
            self._waiting.append(ticket)
            try:
                while True:
                    if self._closed:
                        raise PlayerError(f"{self.name}: the engine pool is closed")
                    if self._waiting[0] is ticket:
                        slot = self._pick_idle(game_id)
                        if slot is not None:
                            slot.serving = game_id
                            return slot
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise PlayerError(
                            f"{self.name}: no engine became free within "
                            f"{self.borrow_timeout:g}s (all {self.size} busy, "
                            f"{len(self._waiting) - 1} other games waiting)"
                        )
                    self._cond.wait(remaining)
            finally:
                # Served or given up: the next in line may find an idle engine now.
                self._waiting.remove(ticket)
                self._cond.notify_all()

    def _pick_idle(self, game_id: str) -> _Slot | None:
        """The idle engine that last served this game, else the one that matters least.

        "Matters least": an engine with no game on its board, else the one used longest
        ago (its game has most likely finished or moved elsewhere).
        """
        idle = [slot for slot in self._slots if not slot.busy]
        if not idle:
            return None
        for slot in idle:
            if slot.last_game() == game_id:
                return slot
        return min(idle, key=lambda slot: (slot.last_game() is not None, slot.last_used))

    def _running_engine(self, slot: _Slot) -> SyncedEngine:
        """The slot's engine, started now if it has none (raises GtpClientError)."""
        if slot.engine is None:
            with self._cond:
                seed = self._base_seed + self._started
                self._started += 1
            slot.engine = SyncedEngine(
                GtpClient(self.config.argv(seed), timeout=self.move_timeout),
                startup_timeout=self.config.startup_timeout,
            )
            slot.seed = seed
        return slot.engine

    def _replace(self, slot: _Slot) -> None:
        """Kill a failed engine and start a fresh one in its place (best effort)."""
        if slot.engine is not None:
            slot.engine.client.close()
            slot.engine = None
        with self._cond:
            self._replaced += 1
            closed = self._closed
        if closed:
            return
        try:
            self._running_engine(slot)
        except GtpClientError:
            slot.engine = None  # could not start now; the next borrower tries again

    def _return(self, slot: _Slot) -> None:
        with self._cond:
            slot.serving = None
            slot.last_used = time.monotonic()
            engine = slot.engine if self._closed else None
            if self._closed:
                slot.engine = None
            self._cond.notify_all()  # only the first in line may take it: wake them all
        if engine is not None:
            engine.client.close()


class PooledEnginePlayer(Player):
    """A crowd member answered by a pool of engine processes (see `EnginePool`)."""

    blocking = True

    def __init__(self, pool: EnginePool, name: str | None = None) -> None:
        self.pool = pool
        self.name = name or pool.name

    def select_move(self, request: MoveRequest) -> MoveChoice:
        if request.position.is_over:
            raise PlayerError(f"{self.name} was asked to move in a finished game")
        return MoveChoice(point=self.pool.genmove(request.game_id, request.position))

    def supports_size(self, size: int) -> bool:
        return self.pool.config.plays_size(size)

    def end_game(self, game_id: str) -> None:
        self.pool.end_game(game_id)

    def close(self) -> None:
        self.pool.close()


def gnugo_player(
    level: int = 10,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    seed: int = 0,
    move_timeout: float = DEFAULT_TIMEOUT,
) -> PooledEnginePlayer:
    """GnuGo at `level` behind a pool (EngineUnavailable if GnuGo is not installed)."""
    pool = EnginePool(gnugo_config(level), pool_size, move_timeout=move_timeout, seed=seed)
    return PooledEnginePlayer(pool)


def pachi_player(
    playouts: int = 1000,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    seed: int = 0,
    move_timeout: float = DEFAULT_TIMEOUT,
) -> PooledEnginePlayer:
    """Pachi at `playouts` per move behind a pool (EngineUnavailable if not built)."""
    pool = EnginePool(pachi_config(playouts), pool_size, move_timeout=move_timeout, seed=seed)
    return PooledEnginePlayer(pool)


def katago_player(
    visits: int = 1,
    *,
    pool_size: int = KATAGO_POOL_SIZE,
    seed: int = 0,
    move_timeout: float | None = None,
) -> PooledEnginePlayer:
    """KataGo at `visits` per move behind a pool (EngineUnavailable if not installed).

    `move_timeout` None: `katago_move_timeout(visits)`, a deadline that grows with the
    visits asked for."""
    timeout = katago_move_timeout(visits) if move_timeout is None else move_timeout
    pool = EnginePool(katago_config(visits), pool_size, move_timeout=timeout, seed=seed)
    return PooledEnginePlayer(pool)


def _integer(argument: str, what: str) -> int:
    try:
        return int(argument)
    except ValueError:
        raise ValueError(f"{what} {argument!r} is not an integer") from None


def pooled_gnugo(argument: str | None) -> Player:
    """Registry factory for ``gnugo[:LEVEL]`` (level 0..10, default 10)."""
    level = 10 if not argument else _integer(argument, "gnugo level")
    return gnugo_player(level)


def pooled_pachi(argument: str | None) -> Player:
    """Registry factory for ``pachi[:PLAYOUTS]`` (default 1000 play-outs a move)."""
    playouts = 1000 if not argument else _integer(argument, "pachi play-outs")
    return pachi_player(playouts)


def pooled_katago(argument: str | None) -> Player:
    """Registry factory for ``katago[:VISITS]`` (default 1 visit: its raw policy)."""
    visits = 1 if not argument else _integer(argument, "katago visits")
    return katago_player(visits)
