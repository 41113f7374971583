"""The study's measurements as pure functions: games, moves and predictions in, numbers out.

Every number the study reports is an `Estimate`: the value, a 95% interval and the count
behind it (`n` games or positions, and `games` the independent games it came from).
Two kinds of interval, as agreed for the study:

* proportions (win rates, top-1 agreement, flaw trigger rates, out-of-the-box shares) get
  the Wilson score interval, which stays inside [0, 1] and is honest at 0 of n and n of n;
* means over positions (log-likelihoods, Brier scores, value over-rating) get a
  percentile bootstrap that resamples whole *games*, because positions of one game are
  not independent: a game the agent misjudged misjudges many of its positions at once.

Nothing here plays a game or touches a network; `collect` does that and hands the
numbers here, so every function can be checked on hand-made input with a known answer.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from crowdzero.analysis.inference import Z95, wilson_interval
from crowdzero.play.record import Game
from crowdzero.players.flaws import FlawReport

#: A member's probability below this means "the member would not play it".
DEFAULT_THRESHOLD = 0.01
#: Probabilities are floored here before taking logs, so a move a member never plays
#: costs log(1e-6) = -13.8 nats instead of minus infinity (which would swamp every mean).
LOG_FLOOR = 1e-6
DEFAULT_RESAMPLES = 2000

Verdict = Literal["supported", "contradicted", "not supported", "no data"]


class StudyMetricError(ValueError):
    """Inputs a measurement cannot be computed from (mismatched lengths, bad colours)."""


@dataclass(frozen=True)
class Estimate:
    """A measured number with its 95% interval and the data behind it.

    `n` counts the units the number is an average over (games for win rates, positions
    for agreement); `games` counts the independent games they came from. With no data
    the value is NaN and the interval the widest possible.
    """

    value: float
    low: float
    high: float
    n: int
    games: int

    @property
    def empty(self) -> bool:
        return self.n == 0

    def __str__(self) -> str:
        if self.empty:
            return "n/a (no data)"
        return f"{self.value:.3f} [{self.low:.3f}, {self.high:.3f}] (n={self.n})"


def no_data(low: float = 0.0, high: float = 1.0) -> Estimate:
    return Estimate(math.nan, low, high, 0, 0)


# -- intervals -------------------------------------------------------------------------


def wilson(successes: float, n: int, *, games: int | None = None, z: float = Z95) -> Estimate:
    """The proportion successes / n with its Wilson score interval.

    `successes` may be fractional (a drawn game scores half a win).
    """
    try:
        low, high = wilson_interval(successes, n, z)
    except ValueError as error:
        raise StudyMetricError(str(error)) from None
    if n == 0:
        return no_data()
    p = successes / n
    return Estimate(p, low, high, n, n if games is None else games)


def bootstrap_mean(
    groups: Sequence[ArrayLike],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> Estimate:
    """The mean of every value pooled, with a bootstrap interval over groups (games).

    Each resample draws as many groups as there are, with replacement, and pools their
    values; the interval is the 2.5th and 97.5th percentile of the resampled means.
    Empty groups are dropped. With one group the interval collapses to the value (there
    is no between-game variation to resample).
    """
    arrays = [a for a in (np.asarray(g, dtype=np.float64).ravel() for g in groups) if a.size]
    if not arrays:
        return no_data(-math.inf, math.inf)
    sums = np.array([a.sum() for a in arrays])
    counts = np.array([a.size for a in arrays], dtype=np.float64)
    total = int(counts.sum())
    value = float(sums.sum() / counts.sum())
    if len(arrays) == 1:
        return Estimate(value, value, value, total, 1)
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(arrays), size=(resamples, len(arrays)))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(value, float(low), float(high), total, len(arrays))


def compare(a: Estimate, b: Estimate, direction: Literal["less", "greater"] = "greater") -> Verdict:
    """Is `a` greater (or less) than `b`? Judged from the two intervals only.

    "supported": the intervals are disjoint in the claimed direction; "contradicted":
    disjoint the other way; "not supported": they overlap; "no data": either is empty.
    Disjoint 95% intervals are a conservative test (roughly p < 0.006 for two normal
    estimates), which suits a report that states claims without a statistician at hand.
    """
    if a.empty or b.empty:
        return "no data"
    if direction == "less":
        a, b = b, a
    if a.low > b.high:
        return "supported"
    if a.high < b.low:
        return "contradicted"
    return "not supported"


def above(a: Estimate, threshold: float) -> Verdict:
    """Is `a` above `threshold`? (Interval entirely above: supported; below: contradicted.)"""
    if a.empty:
        return "no data"
    if a.low > threshold:
        return "supported"
    if a.high < threshold:
        return "contradicted"
    return "not supported"


# -- imitation -------------------------------------------------------------------------


def top1_agreement(
    agent_moves: Sequence[int], member_moves: Sequence[int], games: int | None = None
) -> Estimate:
    """How often the agent's choice equals the member's actual move (Wilson interval)."""
    if len(agent_moves) != len(member_moves):
        raise StudyMetricError(
            f"{len(agent_moves)} agent moves but {len(member_moves)} member moves"
        )
    same = sum(int(a) == int(m) for a, m in zip(agent_moves, member_moves, strict=True))
    return wilson(same, len(agent_moves), games=games)


def choice_log_likelihood(distribution: np.ndarray, point: int, floor: float = LOG_FLOOR) -> float:
    """log P_member(point), with the probability floored at `floor` (see `LOG_FLOOR`)."""
    if not 0 <= point < len(distribution):
        raise StudyMetricError(f"point {point} is outside a distribution of {len(distribution)}")
    return math.log(max(float(distribution[point]), floor))


# -- out-of-the-box play ---------------------------------------------------------------


def out_of_box(
    member_probabilities: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """bool [P]: moves every member gives less than `threshold` probability.

    `member_probabilities` is float [P, M]: for each of P agent moves, the probability
    each of M members would have played that very move in that position. With no members
    (M = 0) nothing can be called out of the box, so every entry is False.
    """
    probs = np.asarray(member_probabilities, dtype=np.float64)
    if probs.ndim != 2:
        raise StudyMetricError(
            f"member probabilities must be [positions, members], got {probs.shape}"
        )
    if probs.shape[1] == 0:
        return np.zeros(probs.shape[0], dtype=bool)
    return np.all(probs < threshold, axis=1)


@dataclass(frozen=True)
class OutcomeSplit:
    """Win rates of games with at least one out-of-the-box move and of games without."""

    with_novel: Estimate
    without_novel: Estimate


def outcome_split(novel_counts: Sequence[int], won: Sequence[float]) -> OutcomeSplit:
    """Split games by whether they had >= 1 novel move; `won` is 1, 0.5 (draw) or 0."""
    if len(novel_counts) != len(won):
        raise StudyMetricError(f"{len(novel_counts)} games counted but {len(won)} results")
    with_ = [w for c, w in zip(novel_counts, won, strict=True) if c > 0]
    without = [w for c, w in zip(novel_counts, won, strict=True) if c == 0]
    return OutcomeSplit(wilson(sum(with_), len(with_)), wilson(sum(without), len(without)))


# -- exploitation and transfer ---------------------------------------------------------


def agent_colour_in(game: Game, name: str) -> int:
    """The colour `name` played in `game` (StudyMetricError if it did not play)."""
    colour = game.colour_of(name)
    if colour:
        return colour
    raise StudyMetricError(f"{name!r} did not play {game.black} vs {game.white}")


def win_rate(games: Iterable[Game], name: str) -> Estimate:
    """`name`'s score (draws half) over decided games, Wilson interval; voids skipped."""
    scores = [
        g.score_for(agent_colour_in(g, name)) for g in games if g.result.strip().upper() != "VOID"
    ]
    return wilson(sum(scores), len(scores))


# -- planted flaws ---------------------------------------------------------------------


def flaw_rate(reports: Sequence[FlawReport]) -> Estimate:
    """Share of games in which the member's flaw was triggered (and punished)."""
    return wilson(sum(r.triggered for r in reports), len(reports))


def flaw_count_mean(reports: Sequence[FlawReport], *, seed: int = 0) -> Estimate:
    """Mean number of punished flaw plies per game (bootstrap over games)."""
    return bootstrap_mean([[float(r.count)] for r in reports], seed=seed)


# -- value function vs reality ---------------------------------------------------------


def win_probability(value: np.ndarray | Sequence[float]) -> np.ndarray:
    """Values in [-1, 1] (the side to move's expected outcome) as P(win) = (v + 1) / 2."""
    return (np.asarray(value, dtype=np.float64) + 1.0) / 2.0


@dataclass(frozen=True)
class CalibrationBin:
    """Predictions in [low, high): how many, their mean and how often the agent won."""

    low: float
    high: float
    count: int
    mean_predicted: float
    observed: float


def calibration_curve(
    predicted: ArrayLike, actual: ArrayLike, bins: int = 10
) -> list[CalibrationBin]:
    """Equal-width bins of predicted win probability with the observed win frequency.

    The last bin is closed ([0.9, 1.0] with 10 bins) so a prediction of exactly 1 counts.
    Empty bins are kept (count 0, NaN means) so curves of different agents line up.
    """
    p = np.asarray(predicted, dtype=np.float64)
    y = np.asarray(actual, dtype=np.float64)
    if p.shape != y.shape:
        raise StudyMetricError(f"{p.size} predictions but {y.size} outcomes")
    if bins < 1:
        raise StudyMetricError(f"a calibration curve needs at least one bin, not {bins}")
    index = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    out = []
    for k in range(bins):
        mask = index == k
        count = int(mask.sum())
        out.append(
            CalibrationBin(
                low=k / bins,
                high=(k + 1) / bins,
                count=count,
                mean_predicted=float(p[mask].mean()) if count else math.nan,
                observed=float(y[mask].mean()) if count else math.nan,
            )
        )
    return out


def brier_score(
    predicted: Sequence[ArrayLike], actual: Sequence[ArrayLike], *, seed: int = 0
) -> Estimate:
    """Mean squared error of win probabilities against outcomes, bootstrap over games.

    Both arguments are grouped by game: predicted[g][i] is the i-th prediction of game
    g and actual[g][i] the result it predicts (1 win, 0 loss, 0.5 draw). 0 is perfect;
    always saying 0.5 scores 0.25.
    """
    return bootstrap_mean(_paired(predicted, actual, lambda p, y: (p - y) ** 2), seed=seed)


def overrating(
    predicted: Sequence[ArrayLike], actual: Sequence[ArrayLike], *, seed: int = 0
) -> Estimate:
    """Mean of (predicted - actual), bootstrap over games: > 0 means too optimistic."""
    return bootstrap_mean(_paired(predicted, actual, lambda p, y: p - y), seed=seed)


def _paired(
    predicted: Sequence[ArrayLike],
    actual: Sequence[ArrayLike],
    f: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> list[np.ndarray]:
    if len(predicted) != len(actual):
        raise StudyMetricError(
            f"{len(predicted)} games of predictions but {len(actual)} of outcomes"
        )
    groups = []
    for p, y in zip(predicted, actual, strict=True):
        pa, ya = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if pa.shape != ya.shape:
            raise StudyMetricError(f"a game has {pa.size} predictions but {ya.size} outcomes")
        groups.append(f(pa, ya))
    return groups


#: Move-number bucket edges for 9x9 (81 points); other sizes scale them by area.
_BUCKET_EDGES_9X9 = (0, 10, 20, 40, 80)


def bucket_edges(size: int) -> tuple[int, ...]:
    """Ply edges of the move-number buckets for an N x N board (opening ... endgame)."""
    scale = size * size / 81.0
    edges = sorted({max(0, round(e * scale)) for e in _BUCKET_EDGES_9X9})
    return tuple(edges)


def move_bucket(ply: int, size: int) -> str:
    """The label of the bucket ply falls in, e.g. "0-9", "10-19", "80+" on 9x9."""
    if ply < 0:
        raise StudyMetricError(f"a ply cannot be negative ({ply})")
    edges = bucket_edges(size)
    for low, high in itertools.pairwise(edges):
        if low <= ply < high:
            return f"{low}-{high - 1}"
    return f"{edges[-1]}+"
