"""The game store's SQLite schema and the migrations that bring an old file up to date.

The file records its own version in ``PRAGMA user_version``: 0 is a new, empty file, and
``MIGRATIONS[i]`` turns version ``i`` into version ``i + 1``. To change the schema, append
a migration (never edit one that has shipped: runs on disk were built with it) and the
store upgrades every file it opens, inside one transaction, so a crash mid-upgrade leaves
the old version intact.

``PRAGMA application_id`` marks the file as a crowdzero store, so pointing the store at
some other application's SQLite database fails clearly instead of adding tables to it.

Tables are STRICT (SQLite >= 3.37) and carry CHECK constraints: a wrong type or an
impossible value (a colour of 3, a ply of -1) is refused by the database itself, which is
the last line of defence for a file that a trainer and a web server both write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

#: "CZGO" as a 32-bit integer, stored in the file header.
APPLICATION_ID = 0x435A474F

_V1 = """
CREATE TABLE players (
    id    INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE,
    kind  TEXT NOT NULL,            -- 'agent', 'random', 'gnugo', 'human', ... (name prefix)
    spec  TEXT NOT NULL DEFAULT ''  -- how to rebuild the player (crowd config entry), if known
) STRICT;

CREATE TABLE checkpoints (
    id          INTEGER PRIMARY KEY,
    step        INTEGER NOT NULL UNIQUE CHECK (step >= 0),
    path        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    games_seen  INTEGER NOT NULL CHECK (games_seen >= 0)
) STRICT;

CREATE TABLE games (
    id            INTEGER PRIMARY KEY,
    board_size    INTEGER NOT NULL CHECK (board_size BETWEEN 5 AND 19),
    komi          REAL NOT NULL,
    ko_rule       TEXT NOT NULL,
    black_id      INTEGER NOT NULL REFERENCES players(id),
    white_id      INTEGER NOT NULL REFERENCES players(id),
    agent_colour  INTEGER NOT NULL CHECK (agent_colour IN (-1, 0, 1, 2)),  -- 2 = both seats
    result        TEXT NOT NULL,
    winner        INTEGER NOT NULL CHECK (winner IN (-1, 0, 1)),
    num_moves     INTEGER NOT NULL CHECK (num_moves >= 0),
    checkpoint_id INTEGER REFERENCES checkpoints(id),
    checkpoint    TEXT,             -- the Game's checkpoint label, kept verbatim
    source        TEXT NOT NULL,    -- 'train', 'arena', 'web', 'study', ...
    created_at    TEXT NOT NULL,    -- Game.date
    metadata      TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata))
) STRICT;

CREATE INDEX games_source ON games(source, id);
CREATE INDEX games_black ON games(black_id, id);
CREATE INDEX games_white ON games(white_id, id);

CREATE TABLE moves (
    game_id     INTEGER NOT NULL REFERENCES games(id) ON DELETE CASCADE,
    ply         INTEGER NOT NULL CHECK (ply >= 0),
    colour      INTEGER NOT NULL CHECK (colour IN (-1, 1)),
    point       INTEGER NOT NULL CHECK (point >= -1),
    player_id   INTEGER REFERENCES players(id),
    policy      BLOB,               -- float32 little-endian [N*N+1], agent moves only
    root_value  REAL,
    PRIMARY KEY (game_id, ply)
) STRICT, WITHOUT ROWID;
"""


def _create_v1(conn: sqlite3.Connection) -> None:
    # executescript would COMMIT the caller's transaction; run statement by statement.
    for statement in _V1.split(";"):
        if statement.strip():
            conn.execute(statement)


def _add_weights_steps_and_game_uids(conn: sqlite3.Connection) -> None:
    """Version 2, for game generation spread over processes (Ray workers).

    ``moves.weights_step``: the training step of the weights an agent move was searched
    with, so off-policy lag is measured per move (weights change between moves, not
    between games); NULL for crowd moves and for every move stored before.

    ``games_uid``: a game carries the id its generator gave it (``metadata.uid``); the
    index refuses a second copy, so a game a worker delivers twice is stored once. Games
    without one (older games, imports) are not indexed.
    """
    conn.execute("ALTER TABLE moves ADD COLUMN weights_step INTEGER CHECK (weights_step >= 0)")
    conn.execute(
        "CREATE UNIQUE INDEX games_uid ON games(json_extract(metadata, '$.uid'))"
        " WHERE json_extract(metadata, '$.uid') IS NOT NULL"
    )


def _add_advice(conn: sqlite3.Connection) -> None:
    """Version 3, for the advice channel (`crowdzero.go.advice`).

    Per move, the advice the mover was given: the point (N*N = pass), the source kind
    (helpful, opponent, random, human) and who advised. All NULL for a move without
    advice and for every move stored before; old files gain the columns and load as
    before.
    """
    conn.execute("ALTER TABLE moves ADD COLUMN advice_point INTEGER CHECK (advice_point >= 0)")
    conn.execute(
        "ALTER TABLE moves ADD COLUMN advice_source TEXT"
        " CHECK (advice_source IN ('helpful', 'opponent', 'random', 'human'))"
    )
    conn.execute("ALTER TABLE moves ADD COLUMN adviser TEXT")


#: MIGRATIONS[i] upgrades a file from user_version i to i + 1.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [
    _create_v1,
    _add_weights_steps_and_game_uids,
    _add_advice,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaError(Exception):
    """The file's schema cannot be used by this version of crowdzero."""


def migrate(conn: sqlite3.Connection, path: str) -> int:
    """Bring the database behind `conn` to SCHEMA_VERSION; returns the version found.

    `conn` must be in autocommit mode (isolation_level=None). The version is read again
    after taking the write lock, so two processes opening a new file at once do not both
    create the tables.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            raise SchemaError(f"{path} is an SQLite database of another application")
        if version == 0 and app_id == 0:
            tables = conn.execute(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
            ).fetchone()[0]
            if tables:
                raise SchemaError(
                    f"{path} is an SQLite database with other tables, not a crowdzero game store"
                )
        if version > SCHEMA_VERSION:
            raise SchemaError(
                f"{path} has schema version {version}, newer than this crowdzero "
                f"understands ({SCHEMA_VERSION}); upgrade crowdzero to open it"
            )
        for step in range(version, SCHEMA_VERSION):
            MIGRATIONS[step](conn)
        if version < SCHEMA_VERSION:
            # PRAGMA arguments cannot be bound parameters; both values are our integers.
            conn.execute(f"PRAGMA user_version = {int(SCHEMA_VERSION)}")
            conn.execute(f"PRAGMA application_id = {int(APPLICATION_ID)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return int(version)
