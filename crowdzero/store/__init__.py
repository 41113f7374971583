"""The SQLite game store: every finished game, player and checkpoint of a run."""

from crowdzero.store.game_store import (
    CheckpointRecord,
    DuplicateGame,
    GameNotFound,
    GameStore,
    PairResult,
    StoreError,
)
from crowdzero.store.schema import SCHEMA_VERSION

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointRecord",
    "DuplicateGame",
    "GameNotFound",
    "GameStore",
    "PairResult",
    "StoreError",
]
