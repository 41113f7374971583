"""Every finished game, in one SQLite file: the system's one source of truth.

The trainer writes games and checkpoints, the web server writes games people play, and
the ratings, the study and SGF export read them, often at the same time and from
different processes. So:

* WAL journal: readers never block the writer and the writer never blocks readers.
* ``busy_timeout``: a second writer waits for the lock (up to `timeout` seconds) instead
  of failing at once; every write starts with ``BEGIN IMMEDIATE`` so it takes the write
  lock up front (a deferred transaction that upgrades later can fail with SQLITE_BUSY
  without waiting).
* ``synchronous = NORMAL``: in WAL mode a commit survives the process being killed
  (kill -9, a crash); only a power cut or OS crash can lose the last few commits, and
  never corrupts the file. FULL would fsync on every game, which costs more than losing
  a few self-play games in a power cut is worth.
* One connection per thread (and per process: a connection inherited through fork is
  dropped, never used), so the object can be shared by the runner's threads.
* A game and its moves go in one transaction: stored whole or not at all.

Records cross this edge as the frozen `Game`/`Move` of `crowdzero.play.record`; rows and
dicts never leave this module. Policies are stored as float32 bytes, so a policy read back
equals the one written rounded to float32.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from crowdzero.go.advice import Advice
from crowdzero.go.coords import RESIGN
from crowdzero.go.position import KoRule, Rules
from crowdzero.play.record import Game, Move
from crowdzero.store.schema import SchemaError, migrate

PathLike = str | os.PathLike[str]

#: Games read per query by `iter_games`; a page is one short read transaction, so a slow
#: consumer never pins the WAL (which would stop it being checkpointed and let it grow).
PAGE_SIZE = 256
#: Ids per `IN (...)` list (SQLite allows 32766 bound parameters since 3.32; stay far below).
_IN_CHUNK = 500


class StoreError(Exception):
    """The game store cannot do what was asked; the message says which file and why."""


class GameNotFound(StoreError, LookupError):
    """No game has the requested id."""


class DuplicateGame(StoreError):
    """A game with the same ``metadata["uid"]`` is already stored; nothing was stored.

    A generator gives each game a unique id, so a game delivered twice (a retried or
    restarted worker) is refused here rather than learned from twice."""


@dataclass(frozen=True)
class CheckpointRecord:
    """A checkpoint the trainer registered: which step, where the file is, how much it saw."""

    id: int
    step: int
    path: str
    created_at: str
    games_seen: int


@dataclass(frozen=True)
class PairResult:
    """Decided games between two players with fixed colours (voided games excluded).

    The ratings code fits a first-move advantage, so results are kept by colour:
    the same two names also appear with colours swapped as another `PairResult`.
    """

    black: str
    white: str
    black_wins: int
    white_wins: int
    draws: int

    @property
    def games(self) -> int:
        return self.black_wins + self.white_wins + self.draws


#: SQLite's names for "these bytes are not a database", as against a file it cannot use.
_NOT_A_DATABASE = ("SQLITE_NOTADB", "SQLITE_CORRUPT")


def _open_error(path: Path, error: sqlite3.Error) -> StoreError:
    """What went wrong opening the store: a file that is not a game store, or one the
    disk will not let SQLite use (read-only folder, full disk, I/O error)."""
    name = str(getattr(error, "sqlite_errorname", ""))
    if name.startswith(_NOT_A_DATABASE):
        return StoreError(f"{path} is not a crowdzero game store (not an SQLite database): {error}")
    return StoreError(
        f"cannot use the game store {path}: {error}. SQLite must be able to write the file and "
        f"its -wal and -shm files beside it: check that {path.parent} is writable and the "
        "disk has space"
    )


def player_kind(name: str) -> str:
    """The kind of a player from its name: "gnugo:5" -> "gnugo", "agent" -> "agent"."""
    return name.split(":", 1)[0]


class GameStore:
    """Games, players and checkpoints in one SQLite file, safe across threads and processes."""

    def __init__(self, path: PathLike, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.timeout = timeout
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._closed = False
        conn = self._conn()
        try:
            migrate(conn, str(self.path))
        except SchemaError as e:
            self.close()
            raise StoreError(str(e)) from e
        except sqlite3.DatabaseError as e:
            self.close()
            raise _open_error(self.path, e) from e

    # -- connections ---------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the game store {self.path} is closed")
        if os.getpid() != self._pid:
            # Forked: the parent's connections must not be touched (SQLite forbids using a
            # connection across fork); abandon them without closing. The lock is replaced,
            # not taken: another thread of the parent may have held it at the fork.
            self._lock = threading.Lock()
            self._pid = os.getpid()
            self._connections = []
            self._local = threading.local()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise _open_error(self.path, e) from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise _open_error(self.path, e) from e
        if str(mode).lower() != "wal":
            conn.close()
            raise StoreError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        return conn

    @contextmanager
    def _transaction(self, write: bool) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this store opened (in this process); idempotent."""
        with self._lock:
            connections, self._connections = self._connections, []
            self._closed = True
        if os.getpid() == self._pid:
            for conn in connections:
                conn.close()

    def __enter__(self) -> GameStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GameStore({str(self.path)!r})"

    # -- players -------------------------------------------------------------------

    def add_player(self, name: str, kind: str | None = None, spec: str = "") -> int:
        """Id of the player called `name`, registering it if new (kind defaults from the name)."""
        with self._transaction(write=True) as conn:
            return self._player_id(conn, name, kind, spec)

    @staticmethod
    def _player_id(
        conn: sqlite3.Connection, name: str, kind: str | None = None, spec: str = ""
    ) -> int:
        row = conn.execute("SELECT id FROM players WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return int(row[0])
        cursor = conn.execute(
            "INSERT INTO players (name, kind, spec) VALUES (?, ?, ?)",
            (name, kind if kind is not None else player_kind(name), spec),
        )
        return int(cursor.lastrowid or 0)

    def players(self) -> list[str]:
        """Names of every player that has been registered, in order of first appearance."""
        rows = self._conn().execute("SELECT name FROM players ORDER BY id").fetchall()
        return [str(name) for (name,) in rows]

    # -- games ---------------------------------------------------------------------

    def add_game(self, game: Game, source: str = "train") -> int:
        """Store `game` with all its moves in one transaction; returns its id.

        DuplicateGame when a game with the same ``metadata["uid"]`` is stored already.
        """
        return self.add_games([game], source)[0]

    def add_games(self, games: Iterable[Game], source: str = "train") -> list[int]:
        """Store several games in one transaction (all or none); returns their ids."""
        games = list(games)
        for game in games:
            _check_game(game)
        try:
            with self._transaction(write=True) as conn:
                return [self._insert_game(conn, game, source) for game in games]
        except sqlite3.IntegrityError as e:
            if "games_uid" in str(e):
                raise DuplicateGame(f"{self.path}: a game with this uid is stored already") from e
            raise StoreError(
                f"{self.path}: the database refused a game ({e}); nothing was stored"
            ) from e

    def _insert_game(
        self,
        conn: sqlite3.Connection,
        game: Game,
        source: str,
    ) -> int:
        uid = game.metadata.get("uid")
        if (
            uid is not None
            and conn.execute(
                "SELECT 1 FROM games WHERE json_extract(metadata, '$.uid') = ?", (uid,)
            ).fetchone()
        ):
            raise DuplicateGame(f"{self.path}: game {uid} is stored already; nothing was stored")
        black_id = self._player_id(conn, game.black)
        white_id = self._player_id(conn, game.white)
        checkpoint_id = (
            self._checkpoint_id(conn, game.checkpoint) if game.checkpoint is not None else None
        )
        cursor = conn.execute(
            "INSERT INTO games (board_size, komi, ko_rule, black_id, white_id, agent_colour,"
            " result, winner, num_moves, checkpoint_id, checkpoint, source, created_at,"
            " metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                game.rules.size,
                float(game.rules.komi),
                str(game.rules.ko),
                black_id,
                white_id,
                game.agent_colour,
                game.result,
                game.winner,
                len(game.moves),
                checkpoint_id,
                game.checkpoint,
                source,
                game.date,
                json.dumps(game.metadata, sort_keys=True),
            ),
        )
        game_id = int(cursor.lastrowid or 0)
        player_ids: dict[str, int] = {game.black: black_id, game.white: white_id}
        rows = []
        for ply, move in enumerate(game.moves):
            player_id = None
            if move.player is not None:
                if move.player not in player_ids:
                    player_ids[move.player] = self._player_id(conn, move.player)
                player_id = player_ids[move.player]
            policy = None
            if move.policy is not None:
                policy = np.asarray(move.policy, dtype="<f4").tobytes()
            root_value = None if move.root_value is None else float(move.root_value)
            advice = move.advice
            rows.append(
                (
                    game_id,
                    ply,
                    move.colour,
                    move.point,
                    player_id,
                    policy,
                    root_value,
                    move.weights_step,
                    None if advice is None else advice.point,
                    None if advice is None else advice.source,
                    None if advice is None else advice.adviser,
                )
            )
        conn.executemany(
            "INSERT INTO moves (game_id, ply, colour, point, player_id, policy, root_value,"
            " weights_step, advice_point, advice_source, adviser)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        return game_id

    def weights_steps(self, game_id: int) -> list[int | None]:
        """Per move of a stored game, the training step of the weights the agent searched
        it with: None for crowd moves and for games stored before steps were recorded."""
        rows = self._conn().execute(
            "SELECT weights_step FROM moves WHERE game_id = ? ORDER BY ply", (game_id,)
        )
        return [None if step is None else int(step) for (step,) in rows]

    @staticmethod
    def _checkpoint_id(conn: sqlite3.Connection, label: str) -> int | None:
        """The registered checkpoint a Game's label names: by path, file name or stem."""
        row = conn.execute("SELECT id FROM checkpoints WHERE path = ?", (label,)).fetchone()
        if row is not None:
            return int(row[0])
        for checkpoint_id, path in conn.execute(
            "SELECT id, path FROM checkpoints ORDER BY step DESC"
        ):
            if label in (Path(path).name, Path(path).stem):
                return int(checkpoint_id)
        return None

    def get_game(self, game_id: int) -> Game:
        """The game stored under `game_id`; raises GameNotFound."""
        with self._transaction(write=False) as conn:
            games = self._load(conn, "g.id = ?", [game_id], limit=1)
        if not games:
            raise GameNotFound(f"{self.path} has no game with id {game_id}")
        return games[0][1]

    def iter_games(
        self, since_id: int = 0, source: str | None = None, player: str | None = None
    ) -> Iterator[tuple[int, Game]]:
        """(id, game) for games with id > since_id, oldest first, optionally filtered.

        Reads a page at a time, so games stored while iterating are picked up and no read
        transaction stays open between pages.
        """
        last = since_id
        while True:
            where, params = _filters(last, source, player)
            with self._transaction(write=False) as conn:
                page = self._load(conn, where, params, limit=PAGE_SIZE)
            yield from page
            if len(page) < PAGE_SIZE:
                return
            last = page[-1][0]

    def count_games(
        self, since_id: int = 0, source: str | None = None, player: str | None = None
    ) -> int:
        """How many games `iter_games` with the same arguments would yield (right now)."""
        return self._count(*_filters(since_id, source, player))

    def last_game_id(self) -> int:
        """Id of the newest game, 0 when the store is empty."""
        row = self._conn().execute("SELECT coalesce(max(id), 0) FROM games").fetchone()
        return int(row[0])

    def games_between(self, a: str, b: str, source: str | None = None) -> list[tuple[int, Game]]:
        """Every game between players `a` and `b`, in either colour, oldest first."""
        where, params = _between(a, b, source)
        with self._transaction(write=False) as conn:
            return self._load(conn, where, params, limit=-1)

    def count_between(self, a: str, b: str, source: str | None = None) -> int:
        """How many games `games_between` would return, without loading them."""
        return self._count(*_between(a, b, source))

    def _count(self, where: str, params: list[Any]) -> int:
        row = self._conn().execute(f"SELECT count(*) FROM games g WHERE {where}", params)
        return int(row.fetchone()[0])

    def results_table(self, source: str | None = None) -> list[PairResult]:
        """Wins, losses and draws for every (black, white) pair of names that has met.

        Voided games ("Void") are left out; a draw is a decided game with winner 0 (jigo).
        """
        sql = (
            "SELECT pb.name, pw.name,"
            " sum(g.winner = 1), sum(g.winner = -1), sum(g.winner = 0)"
            " FROM games g JOIN players pb ON pb.id = g.black_id"
            " JOIN players pw ON pw.id = g.white_id"
            " WHERE upper(g.result) <> 'VOID'"
        )
        params: list[Any] = []
        if source is not None:
            sql += " AND g.source = ?"
            params.append(source)
        sql += " GROUP BY g.black_id, g.white_id ORDER BY pb.name, pw.name"
        return [
            PairResult(str(black), str(white), int(bw), int(ww), int(d))
            for black, white, bw, ww, d in self._conn().execute(sql, params)
        ]

    def _load(
        self, conn: sqlite3.Connection, where: str, params: Sequence[Any], limit: int
    ) -> list[tuple[int, Game]]:
        """Games matching `where` (on alias g) with their moves, by id."""
        game_rows = conn.execute(
            "SELECT g.id, g.board_size, g.komi, g.ko_rule, pb.name, pw.name, g.agent_colour,"
            " g.result, g.winner, g.checkpoint, g.created_at, g.metadata"
            " FROM games g JOIN players pb ON pb.id = g.black_id"
            " JOIN players pw ON pw.id = g.white_id"
            f" WHERE {where} ORDER BY g.id LIMIT ?",
            [*params, limit],
        ).fetchall()
        if not game_rows:
            return []
        ids = [row[0] for row in game_rows]
        moves: dict[int, list[Move]] = {game_id: [] for game_id in ids}
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            for row in conn.execute(
                "SELECT m.game_id, m.colour, m.point, p.name, m.policy, m.root_value,"
                " m.weights_step, m.advice_point, m.advice_source, m.adviser"
                " FROM moves m LEFT JOIN players p ON p.id = m.player_id"
                f" WHERE m.game_id IN ({marks}) ORDER BY m.game_id, m.ply",
                chunk,
            ):
                game_id, colour, point, name, policy, root_value = row[:6]
                moves[game_id].append(
                    Move(
                        colour=int(colour),
                        point=int(point),
                        policy=None
                        if policy is None
                        else tuple(np.frombuffer(policy, dtype="<f4").tolist()),
                        root_value=None if root_value is None else float(root_value),
                        player=None if name is None else str(name),
                        weights_step=None if row[6] is None else int(row[6]),
                        advice=_advice(*row[7:]),
                    )
                )
        out = []
        for row in game_rows:
            (game_id, size, komi, ko, black, white, agent, result, winner, ckpt, date, meta) = row
            try:
                rules = Rules(size=int(size), komi=float(komi), ko=KoRule(ko))
            except ValueError as e:
                raise StoreError(f"{self.path}: game {game_id} has invalid rules: {e}") from e
            out.append(
                (
                    int(game_id),
                    Game(
                        rules=rules,
                        black=str(black),
                        white=str(white),
                        moves=tuple(moves[game_id]),
                        result=str(result),
                        winner=int(winner),
                        date=str(date),
                        agent_colour=int(agent),
                        checkpoint=None if ckpt is None else str(ckpt),
                        metadata=json.loads(meta),
                    ),
                )
            )
        return out

    # -- checkpoints ---------------------------------------------------------------

    def add_checkpoint(self, step: int, path: PathLike, games_seen: int) -> int:
        """Register the checkpoint of training step `step`; returns its id.

        A step registered again (a resumed run that re-trains past a step it had reached
        before a crash) updates the path and count in place, keeping the id that games
        already refer to.
        """
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with self._transaction(write=True) as conn:
            conn.execute(
                "INSERT INTO checkpoints (step, path, created_at, games_seen)"
                " VALUES (?, ?, ?, ?) ON CONFLICT(step) DO UPDATE SET"
                " path = excluded.path, created_at = excluded.created_at,"
                " games_seen = excluded.games_seen",
                (int(step), str(path), now, int(games_seen)),
            )
            row = conn.execute("SELECT id FROM checkpoints WHERE step = ?", (int(step),))
            return int(row.fetchone()[0])

    def latest_checkpoint(self) -> CheckpointRecord | None:
        """The registered checkpoint with the highest step, None before the first."""
        rows = self._checkpoint_rows("ORDER BY step DESC LIMIT 1")
        return rows[0] if rows else None

    def checkpoints(self) -> list[CheckpointRecord]:
        """Every registered checkpoint, by step."""
        return self._checkpoint_rows("ORDER BY step")

    def _checkpoint_rows(self, tail: str) -> list[CheckpointRecord]:
        rows = self._conn().execute(
            f"SELECT id, step, path, created_at, games_seen FROM checkpoints {tail}"
        )
        return [CheckpointRecord(int(i), int(s), str(p), str(c), int(g)) for i, s, p, c, g in rows]

    # -- health --------------------------------------------------------------------

    def integrity_check(self, replay: bool = False) -> list[str]:
        """Problems found in the file; an empty list means it is healthy.

        Checks SQLite's own structure, foreign keys, that every game's moves are numbered
        0..n-1 with n = its move count, and that stored policies have N*N+1 entries. With
        `replay`, every game is also played through the rules engine (slower): each move
        must be legal and by the right colour, and a finished game's winner must be the
        rules' winner.
        """
        conn = self._conn()
        problems = [
            f"sqlite: {message}"
            for (message,) in conn.execute("PRAGMA integrity_check")
            if message != "ok"
        ]
        problems += [
            f"{table} row {rowid} refers to a missing {parent} row"
            for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check")
        ]
        for game_id, num_moves, count, first, last in conn.execute(
            "SELECT g.id, g.num_moves, count(m.ply), min(m.ply), max(m.ply)"
            " FROM games g LEFT JOIN moves m ON m.game_id = g.id GROUP BY g.id"
            " HAVING count(m.ply) <> g.num_moves OR (count(m.ply) > 0"
            " AND (min(m.ply) <> 0 OR max(m.ply) <> g.num_moves - 1))"
        ):
            problems.append(
                f"game {game_id}: {num_moves} moves recorded but {count} stored"
                + (f" (plies {first}..{last})" if count else "")
            )
        for game_id, ply, size in conn.execute(
            "SELECT m.game_id, m.ply, g.board_size FROM moves m JOIN games g ON g.id = m.game_id"
            " WHERE m.policy IS NOT NULL AND length(m.policy) <> 4 * (g.board_size *"
            " g.board_size + 1)"
        ):
            problems.append(
                f"game {game_id} move {ply}: policy does not have {size * size + 1} entries"
            )
        if replay and not problems:
            problems += self._replay_problems()
        return problems

    def _replay_problems(self) -> list[str]:
        problems = []
        for game_id, game in self.iter_games():
            try:
                position = game.replay()
            except ValueError as e:  # IllegalMove is a ValueError
                problems.append(f"game {game_id} does not replay: {e}")
                continue
            decided = position.is_over and game.result.strip().upper() != "VOID"
            if decided and position.winner() != game.winner:
                problems.append(
                    f"game {game_id}: stored winner {game.winner} but the rules give "
                    f"{position.result_string()}"
                )
        return problems


def _advice(point: Any, source: Any, adviser: Any) -> Advice | None:
    """A move's advice from its three columns (all NULL: none)."""
    if point is None or source is None:
        return None
    return Advice(int(point), str(source), "" if adviser is None else str(adviser))


def _between(a: str, b: str, source: str | None) -> tuple[str, list[Any]]:
    """The WHERE clause of the games between `a` and `b` in either colour."""
    where = (
        "((g.black_id = (SELECT id FROM players WHERE name = ?)"
        " AND g.white_id = (SELECT id FROM players WHERE name = ?))"
        " OR (g.black_id = (SELECT id FROM players WHERE name = ?)"
        " AND g.white_id = (SELECT id FROM players WHERE name = ?)))"
    )
    params: list[Any] = [a, b, b, a]
    if source is not None:
        where += " AND g.source = ?"
        params.append(source)
    return where, params


def _filters(since_id: int, source: str | None, player: str | None) -> tuple[str, list[Any]]:
    where = ["g.id > ?"]
    params: list[Any] = [since_id]
    if source is not None:
        where.append("g.source = ?")
        params.append(source)
    if player is not None:
        where.append("(SELECT id FROM players WHERE name = ?) IN (g.black_id, g.white_id)")
        params.append(player)
    return " AND ".join(where), params


def _check_game(game: Game) -> None:
    """Refuse records the schema could store but nobody could use."""
    n = game.rules.size
    uid = game.metadata.get("uid")
    if uid is not None and not isinstance(uid, str):
        raise StoreError(f"a game's uid is a string, not {uid!r}")
    for ply, move in enumerate(game.moves):
        if move.policy is not None and len(move.policy) != n * n + 1:
            raise StoreError(
                f"move {ply} has a policy of {len(move.policy)} entries; "
                f"a {n}x{n} board needs {n * n + 1}"
            )
        if not (move.point == RESIGN or 0 <= move.point <= n * n):
            raise StoreError(f"move {ply} has point {move.point}, not on a {n}x{n} board")
        if move.advice is not None and move.advice.point > n * n:
            raise StoreError(f"move {ply} has advice {move.advice.point}, not on a {n}x{n} board")
