"""A Player backed by an external GTP engine (GnuGo and friends).

An engine keeps its own board, so before each ``genmove`` it must be told the request's
position. `SyncedEngine` remembers what one engine process has been told (which game,
which rules, which moves) and sends only the difference: the next move of the same game
costs one ``play`` and one ``genmove``; a different game, changed rules or a history
that no longer extends what was sent (an undo, a restarted engine) costs a full
``boardsize``/``komi``/``clear_board`` and a replay. A future pool of engines for many
concurrent games reuses `SyncedEngine` per process.

Engines enforce their own rules: GnuGo knows only simple ko, so in rare superko
positions it can answer a move our positional-superko rules forbid. Such an answer (like
any illegal or unparseable one) raises `PlayerError`; the runner decides what to do.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence

from crowdzero.go.coords import BLACK, RESIGN, gtp_to_point, point_to_gtp
from crowdzero.go.errors import CoordinateError
from crowdzero.go.gtp_client import DEFAULT_TIMEOUT, GtpClient, GtpClientError
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError

GNUGO_FALLBACK_PATH = "/usr/games/gnugo"  # Debian installs it outside PATH


def find_gnugo() -> str | None:
    """Path of the gnugo binary: on PATH, else Debian's /usr/games/gnugo; None if absent."""
    found = shutil.which("gnugo")
    if found:
        return found
    if os.access(GNUGO_FALLBACK_PATH, os.X_OK):
        return GNUGO_FALLBACK_PATH
    return None


def colour_word(colour: int) -> str:
    return "b" if colour == BLACK else "w"


class SyncedEngine:
    """One GTP engine and what it has been told, so syncing sends only new moves."""

    def __init__(
        self,
        client: GtpClient,
        setup_commands: Sequence[str] = (),
        *,
        startup_timeout: float | None = None,
    ) -> None:
        """`startup_timeout`: seconds a fresh process gets to answer its first command,
        for engines (KataGo) that load a network before they read any; None: the client's
        usual deadline."""
        self.client = client
        self.setup_commands = list(setup_commands)
        self.startup_timeout = startup_timeout
        self._game_id: str | None = None
        self._rules: Rules | None = None
        self._sent: list[tuple[int, int]] = []
        self._needs_setup = True

    def forget(self) -> None:
        """Assume nothing about the engine's board; the next sync starts afresh."""
        self._game_id = None
        self._rules = None
        self._sent = []

    def game_id(self) -> str | None:
        return self._game_id

    def ensure_running(self) -> None:
        """Restart a dead engine (forgetting its board) and send the setup commands."""
        if not self.client.alive:
            self.client.restart()
            self.forget()
            self._needs_setup = True
        if self._needs_setup:
            if self.startup_timeout is not None:
                # A harmless first command, answered once the engine is ready; its
                # deadline covers the start-up, so no move's deadline has to.
                self.client.send("name", timeout=max(self.startup_timeout, self.client.timeout))
            if self.setup_commands:
                self.client.send_many(self.setup_commands)
            self._needs_setup = False

    def sync(self, game_id: str, position: Position) -> None:
        """Bring the engine's board to `position` (raises GtpClientError on failure)."""
        self.ensure_running()
        moves = position.moves
        size = position.size
        sent = self._sent
        if (
            game_id == self._game_id
            and position.rules == self._rules
            and len(moves) >= len(sent)
            and moves[: len(sent)] == sent
        ):
            commands = []
            new = moves[len(sent) :]
        else:
            commands = [f"boardsize {size}", f"komi {float(position.komi)!r}", "clear_board"]
            new = list(moves)
        commands += [f"play {colour_word(c)} {point_to_gtp(p, size)}" for c, p in new]
        # Until the replay succeeds the engine's board is unknown.
        self.forget()
        if commands:
            self.client.send_many(commands)
        self._game_id = game_id
        self._rules = position.rules
        self._sent = list(moves)

    def genmove(self, game_id: str, position: Position) -> int:
        """Sync, ask for the side to move's move and return it as a point (or RESIGN).

        Raises GtpClientError when the engine fails and PlayerError when its answer
        is not a legal move in `position`.
        """
        self.sync(game_id, position)
        colour = position.to_play
        answer = self.client.send(f"genmove {colour_word(colour)}")
        try:
            point = gtp_to_point(answer, position.size)
        except CoordinateError as exc:
            self.forget()
            raise PlayerError(f"engine answered genmove with {answer!r}: {exc}") from exc
        if point == RESIGN:
            self.forget()
            return point
        reason = position.illegal_reason(point)
        if reason is not None:
            self.forget()
            raise PlayerError(f"engine chose an illegal move {answer.strip()}: {reason}")
        self._sent.append((colour, point))
        return point


class GtpPlayer(Player):
    """A crowd member that is an external GTP engine process (started on first use)."""

    blocking = True

    def __init__(
        self,
        argv: Sequence[str],
        name: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        setup_commands: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self.name = name or os.path.basename(self.argv[0])
        self.timeout = timeout
        self.setup_commands = list(setup_commands)
        self._engine: SyncedEngine | None = None
        self._lock = threading.Lock()

    def _synced_engine(self) -> SyncedEngine:
        if self._engine is None:
            client = GtpClient(self.argv, timeout=self.timeout)
            self._engine = SyncedEngine(client, self.setup_commands)
        return self._engine

    def select_move(self, request: MoveRequest) -> MoveChoice:
        position = request.position
        if position.is_over:
            raise PlayerError(f"{self.name} was asked to move in a finished game")
        with self._lock:
            try:
                point = self._synced_engine().genmove(request.game_id, position)
            except GtpClientError as exc:
                if self._engine is not None:
                    self._engine.forget()
                raise PlayerError(f"{self.name}: {exc}") from exc
        return MoveChoice(point=point)

    def end_game(self, game_id: str) -> None:
        with self._lock:
            if self._engine is not None and self._engine.game_id() == game_id:
                self._engine.forget()

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.client.close()
                self._engine = None


class GnuGoPlayer(GtpPlayer):
    """GnuGo 3.8 at `level` (0..10) with Chinese (area) rules.

    `seed` fixes GnuGo's random choices (``set_random_seed``) so games are
    reproducible; None leaves its time-based seed, which gives variety across games.
    """

    def __init__(
        self,
        level: int = 10,
        seed: int | None = None,
        *,
        path: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not 0 <= level <= 10:
            raise ValueError(f"gnugo level {level} is outside 0..10")
        binary = path or find_gnugo()
        if binary is None:
            raise PlayerError("gnugo is not installed (not on PATH and not at /usr/games/gnugo)")
        setup = [] if seed is None else [f"set_random_seed {seed}"]
        super().__init__(
            [binary, "--mode", "gtp", "--level", str(level), "--chinese-rules"],
            name=f"gnugo:{level}",
            timeout=timeout,
            setup_commands=setup,
        )
        self.level = level
        self.seed = seed
