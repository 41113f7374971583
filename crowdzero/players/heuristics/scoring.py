"""The sensible core every heuristic crowd member shares: score each move, soft-max, sample.

A club beginner looks for a few things in order: capture what can be captured, save
what is in atari (unless it is caught in a ladder), do not play into atari, never fill an
own eye or an own, already-closed territory, play the third and fourth lines in the
opening, and answer near the opponent's last move. `score_moves` turns those into one
number per point (a logit); a player samples from ``softmax(logits / temperature)``.

Each crowd member is this core plus ONE systematic distortion (see the modules next to
this one). Keeping the core shared is what makes the study meaningful: the members differ
only in their planted weakness, so an agent that beats one member more than another has
learned that member's weakness, not a different overall strength.

The distribution a player samples from is exactly the one `move_distribution` returns,
so the study can measure how closely the agent imitates a member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.players.heuristics.tactics import (
    BoardGroups,
    MoveEffect,
    chebyshev,
    extension_is_ladder,
    geometry,
    is_own_eye,
    move_effect,
    nearest_stone_distances,
    region_owners,
)

NEG_INF = float("-inf")


@dataclass(frozen=True)
class Weights:
    """Logit contributions of each heuristic (before dividing by the temperature)."""

    capture: float = 3.0  # any capture ...
    capture_per_stone: float = 1.0  # ... plus this per stone (up to 8 stones)
    save: float = 3.0  # rescuing an own group from atari ...
    save_per_stone: float = 1.0  # ... plus this per stone saved
    dead_ladder: float = -1.5  # extending a group that is caught in a working ladder ...
    dead_ladder_per_stone: float = -0.5  # ... worse the more stones it throws after it
    atari: float = 1.0  # putting an opponent group in atari ...
    atari_per_stone: float = 0.25
    shore_up: float = 1.0  # raising an own two-liberty group to three or more ...
    shore_up_per_stone: float = 0.25
    self_atari: float = -2.0  # leaving the new chain with one liberty ...
    self_atari_per_stone: float = -1.0  # ... worse the bigger that chain
    opponent_area: float = -3.0  # playing inside a small region the opponent encloses
    opponent_area_size: int = 8  # "small" means at most this many points
    near_last_move: float = 0.75  # within two lines of the opponent's last move
    boundary: float = 0.75  # about as near to both colours' stones (where the count is decided)
    deep_inside: float = -0.5  # two or more nearer to one colour (own: wasted; other: dies)
    first_line: float = -1.0  # a quiet first-line move after the opening (usually small)
    opening_lines: tuple[float, ...] = (-2.0, -0.75, 0.75, 0.5)  # by line 1, 2, 3, 4
    opening_fill: float = 0.3  # the opening prior fades out as stones cover this share
    pass_: float = -1.5  # passing while moves remain
    pass_when_won: float = 6.0  # passing after the opponent passed, when the count wins


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class MoveScores:
    """Everything a member needs to distort the sensible policy.

    `logits` is float64 [N*N+1] (pass last) with -inf where the player will not play (an
    illegal point, an own eye, an own closed territory without a tactical reason);
    `effects` has a `MoveEffect` for every legal board point.
    """

    logits: np.ndarray
    legal: np.ndarray
    effects: dict[int, MoveEffect]
    groups: BoardGroups
    colour: int
    ladder_reads: frozenset[int]  # extensions found to be caught in a working ladder


def opponent_last_move(position: Position) -> int | None:
    """The opponent's last point (None when it passed, resigned or has not moved)."""
    if not position.moves:
        return None
    colour, point = position.moves[-1]
    if colour == position.to_play or not 0 <= point < position.size * position.size:
        return None
    return point


def _tactical(effect: MoveEffect) -> bool:
    return bool(effect.captured or effect.saved or effect.extends_atari or effect.shored)


def score_moves(
    position: Position, weights: Weights = DEFAULT_WEIGHTS, read_ladders: bool = True
) -> MoveScores:
    """Score every move for the side to move with the sensible heuristics.

    With ``read_ladders`` an extension that leaves a group with two liberties is read out
    (attacker to move); a working ladder turns the rescue bonus into a penalty.
    Raises PlayerError once the game is over (there is no move to score).
    """
    if position.is_over:
        raise PlayerError("the game is over: there is no move to choose")
    size = position.size
    n2 = size * size
    colour = position.to_play
    legal = position.legal_mask()
    groups = BoardGroups(position.board, size)
    cells = groups.cells
    owners, region_sizes = region_owners(cells, size)
    line = geometry(size).line
    last = opponent_last_move(position)
    stones = sum(1 for c in cells if c != 0)
    opening = max(0.0, 1.0 - stones / (weights.opening_fill * n2))
    d_own = nearest_stone_distances(position.board, size, colour).tolist()
    d_opp = nearest_stone_distances(position.board, size, -colour).tolist()
    w = weights

    logits = np.full(n2 + 1, NEG_INF)
    effects: dict[int, MoveEffect] = {}
    ladder_reads: set[int] = set()
    for p in np.flatnonzero(legal[:n2]).tolist():
        effect = move_effect(groups, p, colour)
        effects[p] = effect
        if is_own_eye(cells, size, p, colour):
            continue
        if owners[p] == colour and not _tactical(effect):
            continue
        score = 0.0
        if effect.captured:
            score += w.capture + w.capture_per_stone * min(effect.captured, 8)
        if effect.saved:
            caught = (
                read_ladders
                and effect.extends_atari
                and effect.liberties == 2
                and extension_is_ladder(cells, size, p, colour)
            )
            if caught:
                ladder_reads.add(p)
                score += w.dead_ladder + w.dead_ladder_per_stone * min(effect.saved, 8)
            else:
                score += w.save + w.save_per_stone * min(effect.saved, 8)
        if effect.ataris and effect.liberties >= 2:
            score += w.atari + w.atari_per_stone * min(effect.ataris, 8)
        if effect.shored:
            score += w.shore_up + w.shore_up_per_stone * min(effect.shored, 8)
        if effect.liberties == 1 and not (effect.captured == 1 and effect.group_size == 1):
            score += w.self_atari + w.self_atari_per_stone * min(effect.group_size, 8)
        if (
            owners[p] == -colour
            and region_sizes[p] <= w.opponent_area_size
            and not _tactical(effect)
        ):
            score += w.opponent_area
        if opening > 0.0 and line[p] < len(w.opening_lines):
            score += opening * w.opening_lines[line[p]]
        if not _tactical(effect):
            if abs(d_own[p] - d_opp[p]) <= 1 and min(d_own[p], d_opp[p]) <= 3:
                score += w.boundary
            elif abs(d_own[p] - d_opp[p]) >= 2 and max(d_own[p], d_opp[p]) <= size:
                score += w.deep_inside
            if line[p] == 0:
                score += (1.0 - opening) * w.first_line
        if last is not None and chebyshev(p, last, size) <= 2:
            score += w.near_last_move
        logits[p] = score

    logits[n2] = w.pass_
    if position.consecutive_passes and colour * position.area_score() > 0:
        logits[n2] = w.pass_when_won
    return MoveScores(logits, legal, effects, groups, colour, frozenset(ladder_reads))


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from logits (-inf entries get exactly 0); float64, sums to 1."""
    finite = np.isfinite(logits)
    if not finite.any():
        raise PlayerError("no move has a finite score")
    if temperature <= 0.0:
        best = logits == logits[finite].max()
        return best / best.sum()
    z = np.where(finite, logits / temperature, NEG_INF)
    z = z - z[finite].max()
    e = np.where(finite, np.exp(z), 0.0)
    return e / e.sum()


class HeuristicPlayer(Player):
    """The sensible core with no planted weakness (the study's control member).

    Subclasses override `adjust` to distort the logits (or restrict the choice); the
    player samples from exactly `move_distribution`. `seed` makes the choices repeatable.
    """

    flaw = "none"
    member = "plain"
    read_ladders = True

    def __init__(
        self,
        seed: int | None = None,
        temperature: float = 0.5,
        weights: Weights = DEFAULT_WEIGHTS,
        name: str | None = None,
    ) -> None:
        if temperature < 0.0:
            raise ValueError(f"temperature must be >= 0, not {temperature}")
        self.name = name or f"heuristic:{self.member}"
        self.temperature = temperature
        self.weights = weights
        self.rng = np.random.default_rng(seed)

    def adjust(self, position: Position, scores: MoveScores) -> np.ndarray:
        """The member's logits; the plain player keeps the sensible ones."""
        return scores.logits

    def move_distribution(self, position: Position) -> np.ndarray:
        """float64 [N*N+1]: the exact distribution `select_move` samples from.

        All zeros once the game is over (there is nothing left to choose).
        """
        if position.is_over:
            return np.zeros(position.size * position.size + 1)
        scores = score_moves(position, self.weights, self.read_ladders)
        return softmax(self.adjust(position, scores), self.temperature)

    def select_move(self, request: MoveRequest) -> MoveChoice:
        if request.position.is_over:
            raise PlayerError("the game is over: there is no move to choose")
        distribution = self.move_distribution(request.position)
        point = int(self.rng.choice(distribution.size, p=distribution))
        return MoveChoice(point)


def restrict(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Logits with everything outside `allowed` (bool [N*N+1]) set to -inf."""
    return np.where(allowed, logits, NEG_INF)
