"""The window of recent training rows the learner samples from.

Every position of a game the agent played becomes a row, whoever was to move: the game's
outcome is known for both seats, and the search evaluates positions with the opponent to
move at every child of its root, so the value, ownership and score heads must learn both
sides. What differs per row is the **policy weight**: 1 where the learning agent searched
with a full budget and left a target (`Move.policy`), 0 everywhere else (a crowd member's
move, a cheap playout-capped search). So in crowd mode a member's move can never become a
policy target, while its position still teaches the value head. (KataGo keeps a per-row
policy weight for the same reason.)

The window grows with the data (KataGo's rule, `WindowRule`): early on it is small, so the
near-random games of the first minutes soon stop being sampled; later it widens so the
learner does not overfit the newest games. Rows live in a ring buffer of `capacity`, and
samples come from the newest `WindowRule.size(rows_added)` of them.

The window is rebuilt from the game store on resume, so it is a cache, never the source of
truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from crowdzero.go.coords import BLACK, RESIGN, WHITE
from crowdzero.go.features import FeatureSpec, position_features
from crowdzero.go.ownership import area_ownership
from crowdzero.go.position import Position
from crowdzero.net.symmetry import NUM_SYMMETRIES, point_sources
from crowdzero.play.record import Game

#: Which moves of a game become rows: every position ("all", training) or only those with
#: a policy target ("policy", the study's imitation windows).
RowFilter = Literal["all", "policy"]


@dataclass(frozen=True)
class TrainingBatch:
    """Arrays ready for the learner; shapes in the comments (B = batch size, A = N*N+1).

    Every target comes from the view of the player to move in the row's position.
    """

    features: np.ndarray  # float32 [B, C, N, N]
    policy: np.ndarray  # float32 [B, A], sums to 1 where policy_weight is 1, else zeros
    value: np.ndarray  # float32 [B], game outcome: +1 won, -1 lost, 0 jigo
    ownership: np.ndarray  # float32 [B, N*N], final area owner: +1 mine, -1 theirs
    policy_weight: np.ndarray | None = None  # float32 [B], 1 = the row has a search target
    ownership_weight: np.ndarray | None = None  # float32 [B], 0 for resigned games
    score: np.ndarray | None = None  # float32 [B], final area margin incl. komi, / (N*N)
    opponent_policy: np.ndarray | None = None  # float32 [B, A], one-hot opponent reply
    opponent_weight: np.ndarray | None = None  # float32 [B], 0 when no reply followed
    age: np.ndarray | None = None  # int64 [B], rows added to the window since this one


@dataclass(frozen=True)
class WindowRule:
    """How many of the newest rows are sampled, as a function of rows seen so far.

    KataGo's rule: all rows while fewer than `min_rows`; then
    ``min_rows * (1 + growth * ((seen / min_rows) ** exponent - 1) / exponent)``, which
    grows like seen**exponent, so the window slides from the start and the share of old,
    weak-network data falls as the run goes on. Capped by the ring's capacity.
    """

    min_rows: int = 20_000
    exponent: float = 0.75
    growth: float = 0.4

    def size(self, seen: int) -> int:
        if seen <= self.min_rows:
            return seen
        ratio = seen / self.min_rows
        grown = self.min_rows * (1.0 + self.growth * (ratio**self.exponent - 1.0) / self.exponent)
        return int(min(seen, grown))


class UnplayableGame(ValueError):
    """A stored game whose moves the rules engine refuses (written by an older version,
    by hand, or under other rules). The window skips it rather than stop a resume."""


class ReplayWindow:
    """A ring buffer of the newest `capacity` rows; samples come from the newest
    `rule.size(rows_added)` (all of them when `rule` is None)."""

    def __init__(
        self,
        board_size: int,
        history: int | FeatureSpec,
        capacity: int,
        *,
        rows: RowFilter = "all",
        rule: WindowRule | None = None,
    ) -> None:
        if capacity < 1:
            raise ValueError("replay capacity must be at least 1")
        if rows not in ("all", "policy"):
            raise ValueError(f"rows must be 'all' or 'policy', not {rows!r}")
        self.board_size = board_size
        self.capacity = capacity
        self.rows = rows
        self.rule = rule
        n = board_size * board_size
        # The planes of the net being trained (an int: that history with a new net's planes).
        self.feature_spec = history if isinstance(history, FeatureSpec) else FeatureSpec(history)
        planes = self.feature_spec.planes
        # Planes are 0/1: a byte each keeps 100k 9x9 rows near 100 MB.
        self._features = np.zeros((capacity, planes, board_size, board_size), dtype=np.uint8)
        self._policy = np.zeros((capacity, n + 1), dtype=np.float32)
        self._policy_weight = np.zeros(capacity, dtype=np.float32)
        self._value = np.zeros(capacity, dtype=np.float32)
        self._ownership = np.zeros((capacity, n), dtype=np.int8)
        self._final_weight = np.zeros(capacity, dtype=np.float32)  # ownership and score
        self._score = np.zeros(capacity, dtype=np.float32)
        self._reply = np.full(capacity, -1, dtype=np.int16)  # the opponent's next move
        self._game_ids = np.full(capacity, -1, dtype=np.int64)
        self._next = 0
        self._size = 0
        self.positions_added = 0  # rows ever added (the ring keeps the newest `capacity`)
        self.policy_rows_added = 0
        self.games_added = 0
        self.last_game_id = 0

    def __len__(self) -> int:
        return self._size

    @property
    def window(self) -> int:
        """Rows the next sample is drawn from: the newest `window` of the ring."""
        if self.rule is None:
            return self._size
        return max(1, min(self._size, self.rule.size(self.positions_added)))

    def add_game(self, game: Game, game_id: int = 0) -> int:
        """Add the rows of a finished game; returns how many were added.

        A game enters when the learning agent played in it (`Game.agent_colour`) or any move
        carries a target; games between others add nothing. The game is replayed in full
        before anything enters the ring, so a game that does not replay (`UnplayableGame`)
        leaves the window as it was.
        """
        if game.rules.size != self.board_size:
            raise ValueError(
                f"game is on {game.rules.size}x{game.rules.size}, "
                f"the window holds {self.board_size}x{self.board_size}"
            )
        # Seen, whether its rows enter or not: the next look at the store starts after
        # it, so a game without targets or one that does not replay is not retried.
        self.last_game_id = max(self.last_game_id, game_id)
        has_target = any(m.policy is not None for m in game.moves)
        if not has_target and (self.rows == "policy" or game.agent_colour == 0):
            return 0
        position = Position(game.rules)
        actions = self._policy.shape[1]
        examples: list[tuple[np.ndarray, tuple[float, ...] | None, int, int]] = []
        for number, move in enumerate(game.moves, start=1):
            if move.policy is not None and len(move.policy) != actions:
                raise UnplayableGame(
                    f"game {game_id}, move {number}: a search target of "
                    f"{len(move.policy)} entries, expected {actions}"
                )
            if move.policy is not None or self.rows == "all":
                reply = game.moves[number].point if number < len(game.moves) else RESIGN
                examples.append(
                    (
                        # The advice the mover heard (blank without): a net with advice
                        # planes learns from what it actually saw.
                        position_features(position, self.feature_spec, move.advice),
                        move.policy,
                        move.colour,
                        reply,
                    )
                )
            try:
                if move.point == RESIGN:
                    position.resign()
                else:
                    position.play(move.point)
            except ValueError as e:  # IllegalMove, CoordinateError
                raise UnplayableGame(f"game {game_id}, move {number}: {e}") from e
        # A resigned game's final board is not its outcome: no ownership or score targets.
        scored = not position.resigned
        ownership = area_ownership(position)
        black_margin = position.area_score() / (self.board_size * self.board_size)
        for features, policy, colour, reply in examples:
            i = self._next
            self._features[i] = features
            if policy is None:
                self._policy[i] = 0.0
                self._policy_weight[i] = 0.0
            else:
                target = np.asarray(policy, dtype=np.float32)
                total = float(target.sum())
                self._policy[i] = target / total if total > 0 else target
                self._policy_weight[i] = 1.0 if total > 0 else 0.0
                self.policy_rows_added += 1
            self._value[i] = 0.0 if game.winner == 0 else (1.0 if game.winner == colour else -1.0)
            self._ownership[i] = ownership * colour
            self._final_weight[i] = 1.0 if scored else 0.0
            self._score[i] = black_margin * (1.0 if colour == BLACK else -1.0)
            self._reply[i] = reply if reply != RESIGN and reply >= 0 else -1
            self._game_ids[i] = game_id
            self._next = (i + 1) % self.capacity
            self._size = min(self._size + 1, self.capacity)
        self.positions_added += len(examples)
        self.games_added += 1
        return len(examples)

    def add_games(self, games: Iterable[tuple[int, Game]]) -> int:
        return sum(self.add_game(game, game_id) for game_id, game in games)

    def game_ids(self) -> np.ndarray:
        """Store ids of the games whose rows are in the ring (for tests/audits)."""
        return np.unique(self._game_ids[: self._size])

    def sample(
        self, batch_size: int, rng: np.random.Generator, augment: bool = True
    ) -> TrainingBatch:
        """A uniform sample of the newest `window` rows; each under its own random board
        symmetry when `augment`."""
        if self._size == 0:
            raise ValueError("the replay window is empty")
        # Ages 0..window-1 (0 = the newest row); ring index = next - 1 - age.
        age = rng.integers(self.window, size=batch_size)
        index = (self._next - 1 - age) % self.capacity
        features = self._features[index].astype(np.float32)
        policy = self._policy[index]
        ownership = self._ownership[index].astype(np.float32)
        actions = policy.shape[1]
        reply = self._reply[index].astype(np.int64)
        has_reply = reply >= 0
        opponent = np.zeros((batch_size, actions), dtype=np.float32)
        opponent[np.flatnonzero(has_reply), reply[has_reply]] = 1.0
        if augment:
            features, policy, ownership, opponent = _augment(
                features, policy, ownership, opponent, rng
            )
        return TrainingBatch(
            features=np.ascontiguousarray(features),
            policy=np.ascontiguousarray(policy),
            value=self._value[index].copy(),
            ownership=np.ascontiguousarray(ownership),
            policy_weight=self._policy_weight[index].copy(),
            ownership_weight=self._final_weight[index].copy(),
            score=self._score[index].copy(),
            opponent_policy=np.ascontiguousarray(opponent),
            opponent_weight=has_reply.astype(np.float32),
            age=age.astype(np.int64),
        )


def _augment(
    features: np.ndarray,
    policy: np.ndarray,
    ownership: np.ndarray,
    opponent: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One random symmetry per row, applied alike to its planes, both policies and its
    ownership (they must move together, or the targets point at the wrong stones)."""
    batch, planes, size, _ = features.shape
    n = size * size
    chosen = rng.integers(NUM_SYMMETRIES, size=batch)
    flat = features.reshape(batch, planes, n)
    out_f = np.empty_like(flat)
    out_p = np.empty_like(policy)
    out_o = np.empty_like(ownership)
    out_r = np.empty_like(opponent)
    for s in range(NUM_SYMMETRIES):
        rows = np.flatnonzero(chosen == s)
        if rows.size == 0:
            continue
        points = point_sources(size, s)
        actions = np.append(points, n)  # pass stays pass
        out_f[rows] = flat[rows][:, :, points]
        out_p[rows] = policy[rows][:, actions]
        out_o[rows] = ownership[rows][:, points]
        out_r[rows] = opponent[rows][:, actions]
    return out_f.reshape(features.shape), out_p, out_o, out_r


__all__ = [
    "BLACK",
    "WHITE",
    "ReplayWindow",
    "RowFilter",
    "TrainingBatch",
    "UnplayableGame",
    "WindowRule",
]
