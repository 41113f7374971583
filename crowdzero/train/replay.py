"""The window of recent training positions the learner samples from.

A position enters the window only if its move carries a search target (`Move.policy`).
The match runner gives targets only to the learning agent's moves, so in crowd mode
the window holds exactly the positions where the agent was to move, and a crowd
member's move can never become a policy target; in self-play both seats are the agent
and every position enters. The window is rebuilt from the game store on resume, so it
is a cache, never the source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from crowdzero.go.coords import RESIGN
from crowdzero.go.ownership import area_ownership
from crowdzero.go.position import Position
from crowdzero.go.record import Game
from crowdzero.net.symmetry import augment_batch


@dataclass(frozen=True)
class TrainingBatch:
    """Arrays ready for the learner; shapes in the comments (B = batch size)."""

    features: np.ndarray  # float32 [B, C, N, N]
    policy: np.ndarray  # float32 [B, N*N+1], sums to 1
    value: np.ndarray  # float32 [B], game outcome from the mover's view: +1 won, -1 lost
    ownership: np.ndarray  # float32 [B, N*N], final area owner from the mover's view


class UnplayableGame(ValueError):
    """A stored game whose moves the rules engine refuses (written by an older version,
    by hand, or under other rules). The window skips it rather than stop a resume."""


class ReplayWindow:
    """A ring buffer of the most recent `capacity` agent positions."""

    def __init__(self, board_size: int, history: int, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("replay capacity must be at least 1")
        self.board_size = board_size
        self.history = history
        self.capacity = capacity
        n = board_size * board_size
        planes = 2 * history + 1
        # Planes are 0/1: a byte each keeps 100k 9x9 positions under 100 MB.
        self._features = np.zeros((capacity, planes, board_size, board_size), dtype=np.uint8)
        self._policy = np.zeros((capacity, n + 1), dtype=np.float32)
        self._value = np.zeros(capacity, dtype=np.float32)
        self._ownership = np.zeros((capacity, n), dtype=np.int8)
        self._game_ids = np.full(capacity, -1, dtype=np.int64)
        self._next = 0
        self._size = 0
        self.positions_added = 0
        self.games_added = 0
        self.last_game_id = 0

    def __len__(self) -> int:
        return self._size

    def add_game(self, game: Game, game_id: int = 0) -> int:
        """Add the searched positions of a finished game; returns how many were added.

        The game is replayed in full before anything enters the ring, so a game that
        does not replay (`UnplayableGame`) leaves the window as it was.
        """
        if game.rules.size != self.board_size:
            raise ValueError(
                f"game is on {game.rules.size}x{game.rules.size}, "
                f"the window holds {self.board_size}x{self.board_size}"
            )
        # Seen, whether its positions enter or not: the next look at the store starts
        # after it, so a game without targets or one that does not replay is not retried.
        self.last_game_id = max(self.last_game_id, game_id)
        if not any(m.policy is not None for m in game.moves):
            return 0
        position = Position(game.rules)
        examples: list[tuple[np.ndarray, tuple[float, ...], int]] = []
        for number, move in enumerate(game.moves, start=1):
            if move.policy is not None:
                if len(move.policy) != self._policy.shape[1]:
                    raise UnplayableGame(
                        f"game {game_id}, move {number}: a search target of "
                        f"{len(move.policy)} entries, expected {self._policy.shape[1]}"
                    )
                examples.append((position.features(self.history), move.policy, move.colour))
            try:
                if move.point == RESIGN:
                    position.resign()
                else:
                    position.play(move.point)
            except ValueError as e:  # IllegalMove, CoordinateError
                raise UnplayableGame(f"game {game_id}, move {number}: {e}") from e
        ownership = area_ownership(position)
        for features, policy, colour in examples:
            i = self._next
            self._features[i] = features
            target = np.asarray(policy, dtype=np.float32)
            total = float(target.sum())
            self._policy[i] = target / total if total > 0 else target
            self._value[i] = 0.0 if game.winner == 0 else (1.0 if game.winner == colour else -1.0)
            self._ownership[i] = ownership * colour
            self._game_ids[i] = game_id
            self._next = (i + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)
        self.positions_added += len(examples)
        self.games_added += 1
        return len(examples)

    def add_games(self, games: Iterable[tuple[int, Game]]) -> int:
        return sum(self.add_game(game, game_id) for game_id, game in games)

    def game_ids(self) -> np.ndarray:
        """Store ids of the games whose positions are in the window (for tests/audits)."""
        return np.unique(self._game_ids[: self._size])

    def sample(
        self, batch_size: int, rng: np.random.Generator, augment: bool = True
    ) -> TrainingBatch:
        """A uniform sample; each example under its own random board symmetry."""
        if self._size == 0:
            raise ValueError("the replay window is empty")
        index = rng.integers(self._size, size=batch_size)
        features = self._features[index].astype(np.float32)
        policy = self._policy[index]
        ownership = self._ownership[index].astype(np.float32)
        if augment:
            features, policy, aug_ownership = augment_batch(features, policy, ownership, rng)
            assert aug_ownership is not None
            ownership = aug_ownership
        return TrainingBatch(
            features=np.ascontiguousarray(features),
            policy=np.ascontiguousarray(policy),
            value=self._value[index].copy(),
            ownership=np.ascontiguousarray(ownership),
        )
