"""The study's statistics: clustered intervals, difference in differences, stratified
tests, multiplicity correction and the verdict rule (issue #13).

Why each piece exists:

* **Clustered by game** (`clustered_mean`). Positions of one game are not independent
  (same opponent, same plan, same outcome), so a mean over positions gets a
  cluster-robust (CR1 sandwich) standard error over games and a t interval with
  ``games - 1`` degrees of freedom, the same as an intercept-only regression with
  ``cov_type="cluster"`` in statsmodels. With one value per game it is the usual
  standard error of a mean. It never collapses to zero width on one game: one game gives
  no interval at all (``nan``), and the verdict rule refuses it.
* **Difference in differences** (`difference_in_differences`). Exploitation of a planted
  flaw is (agent's score against the flawed member minus against its flaw-free twin)
  for the crowd agent, minus the same for a control agent. The four cells are
  independent sets of games, so the variance is the sum of the four cells' variances.
* **Stratified test** (`cochran_mantel_haenszel`). Pooling "score against the crowd"
  over members lets members that separate no one (every agent wins 100% against a
  random mover, 0% against GnuGo 10) dilute the comparison. The Cochran-Mantel-Haenszel
  test compares two agents within each member (stratum) and adds up the evidence; a
  stratum where every game ended the same way carries no information and no weight.
* **Holm** (`holm`) across the pre-registered primary claims, Benjamini-Hochberg
  (`benjamini_hochberg`, scipy's) for the exploratory rest if wanted.
* **Verdicts** (`verdict`): a claim is decided only from at least `MIN_GAMES` games in
  each compared cell, by its multiplicity-adjusted p-value.
* **Planning** (`power_two_proportions`, `games_for_power`): how many games a pairing
  needs; 20 games a pairing have about 25% power to tell 50% from 70%.
* **Wilson** (`wilson_interval`): the one interval for a proportion that every report
  uses (arena matches, win-rate series, the study's estimates). It stays inside [0, 1]
  and is honest at 0 of n and n of n, where the normal approximation says "[0, 0]".
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from scipy import stats

MIN_GAMES = 20
"""No verdict from fewer games than this in any compared cell (issue #13)."""

ALPHA = 0.05

Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal distribution."""


def wilson_interval(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for the proportion successes / n; (0, 1) when n is 0.

    `successes` may be fractional (a drawn game scores half a win). At 0 of n (n of n)
    the lower (upper) end is exactly 0 (1), not the 1e-17 that rounding would give.
    """
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"a proportion needs 0 <= successes <= n, got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its standard error and two-sided interval.

    `games` is the number of independent clusters behind it (the smallest cell's for a
    contrast); `n` the number of values averaged. `low`/`high` are nan when there is no
    interval (fewer than two games)."""

    value: float
    se: float
    low: float
    high: float
    n: int
    games: int


def clustered_mean(
    values: Sequence[float], clusters: Sequence[Hashable] | None = None, confidence: float = 0.95
) -> Estimate:
    """Mean of `values` with a CR1 cluster-robust interval over `clusters` (one per value).

    Without `clusters` every value is its own cluster (one value per game).
    Variance: ``G/(G-1) * sum_g (sum_{i in g} (y_i - mean))^2 / N^2``; interval: the t
    distribution with G - 1 degrees of freedom.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ValueError("values must be one-dimensional")
    n = int(y.size)
    if clusters is None:
        labels = np.arange(n)
    else:
        if len(clusters) != n:
            raise ValueError(f"{len(clusters)} cluster labels for {n} values")
        index: dict[Hashable, int] = {}
        labels = np.asarray([index.setdefault(c, len(index)) for c in clusters], dtype=int)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0, 0)
    mean = float(y.mean())
    groups = int(labels.max()) + 1
    if groups < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, n, groups)
    sums = np.bincount(labels, weights=y - mean, minlength=groups)
    variance = groups / (groups - 1) * float(np.sum(sums**2)) / n**2
    se = math.sqrt(variance)
    half = float(stats.t.ppf(0.5 + confidence / 2, groups - 1)) * se
    return Estimate(mean, se, mean - half, mean + half, n, groups)


@dataclass(frozen=True)
class Contrast:
    """A difference of scores with its interval and two-sided p-value (normal)."""

    estimate: Estimate
    p_value: float

    @property
    def value(self) -> float:
        return self.estimate.value


def _contrast(value: float, variance: float, n: int, games: int, confidence: float) -> Contrast:
    if not math.isfinite(variance):
        return Contrast(Estimate(value, math.nan, math.nan, math.nan, n, games), math.nan)
    se = math.sqrt(variance)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    # With no spread a difference is certain (p 0) or there is none (p 1).
    no_spread = 1.0 if value == 0.0 else 0.0
    p = no_spread if se == 0.0 else float(2 * stats.norm.sf(abs(value) / se))
    return Contrast(Estimate(value, se, value - z * se, value + z * se, n, games), p)


def _cell(scores: Sequence[float]) -> Estimate:
    return clustered_mean(scores)


def difference(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> Contrast:
    """mean(a) - mean(b) for two independent sets of per-game scores."""
    ea, eb = _cell(a), _cell(b)
    return _contrast(
        ea.value - eb.value,
        ea.se**2 + eb.se**2,
        ea.n + eb.n,
        min(ea.games, eb.games),
        confidence,
    )


def difference_in_differences(
    agent_flawed: Sequence[float],
    agent_twin: Sequence[float],
    control_flawed: Sequence[float],
    control_twin: Sequence[float],
    confidence: float = 0.95,
) -> Contrast:
    """(agent vs flawed - agent vs twin) - (control vs flawed - control vs twin).

    Each argument is one score per game (1 win, 0.5 draw, 0 loss) of one agent against
    one member; the four sets of games are independent. Positive: the agent gains more
    from the flaw than the control does, i.e. it exploits it.
    """
    cells = [_cell(s) for s in (agent_flawed, agent_twin, control_flawed, control_twin)]
    value = (cells[0].value - cells[1].value) - (cells[2].value - cells[3].value)
    variance = sum(c.se**2 for c in cells)
    return _contrast(
        value,
        variance,
        sum(c.n for c in cells),
        min(c.games for c in cells),
        confidence,
    )


def difference_of_proportions(
    successes_a: float, n_a: int, successes_b: float, n_b: int, z: float = Z95
) -> Estimate:
    """p_a - p_b for two independent samples, with Newcombe's hybrid score interval (his
    method 10, built from the two Wilson intervals).

    Where the normal interval collapses (0 of 20 against 0 of 20 gives [0, 0], the
    zero-width interval issue #13 objects to), this one keeps the width the samples'
    sizes allow. `se` is the half-width of the interval's longer side over z, so such
    differences can be pooled (`pooled_mean`); nan with an empty sample.
    """
    if n_a == 0 or n_b == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, n_a + n_b, min(n_a, n_b))
    p_a, p_b = successes_a / n_a, successes_b / n_b
    low_a, high_a = wilson_interval(successes_a, n_a, z)
    low_b, high_b = wilson_interval(successes_b, n_b, z)
    value = p_a - p_b
    below = math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    above = math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return Estimate(
        value, max(below, above) / z, value - below, value + above, n_a + n_b, min(n_a, n_b)
    )


def pooled_mean(estimates: Sequence[Estimate], confidence: float = 0.95) -> Contrast:
    """The equal-weight mean of independent estimates (one per twin pair, say): its
    standard error is the root of the summed variances over their count, its interval and
    two-sided p normal. Estimates without a standard error (too few games) are left out;
    with none left the result is nan."""
    usable = [e for e in estimates if math.isfinite(e.se)]
    if not usable:
        return Contrast(Estimate(math.nan, math.nan, math.nan, math.nan, 0, 0), math.nan)
    k = len(usable)
    value = sum(e.value for e in usable) / k
    se = math.sqrt(sum(e.se**2 for e in usable)) / k
    games = min(e.games for e in usable)
    n = sum(e.n for e in usable)
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p = float(2 * stats.norm.sf(abs(value) / se)) if se > 0 else (0.0 if value else 1.0)
    return Contrast(Estimate(value, se, value - z * se, value + z * se, n, games), p)


def difference_of_estimates(a: Estimate, b: Estimate, confidence: float = 0.95) -> Contrast:
    """a - b for two independent estimates with standard errors (two agents' pooled
    exploitation gaps at one point of training, say: their difference is the study's
    difference in differences there). Normal interval and two-sided p; nan without a
    standard error on either side."""
    return _contrast(
        a.value - b.value, a.se**2 + b.se**2, a.n + b.n, min(a.games, b.games), confidence
    )


@dataclass(frozen=True)
class StratifiedTest:
    """Cochran-Mantel-Haenszel test over 2x2 tables, one per stratum.

    `statistic` is chi-square with one degree of freedom; `odds_ratio` the
    Mantel-Haenszel common odds ratio (row 0 winning vs row 1); `informative` the number
    of strata whose outcomes varied (the others carry no weight)."""

    statistic: float
    p_value: float
    odds_ratio: float
    strata: int
    informative: int


def cochran_mantel_haenszel(
    tables: Sequence[Sequence[Sequence[float]]], correction: bool = False
) -> StratifiedTest:
    """CMH test of "no association in any stratum" for tables ``[[a, b], [c, d]]``.

    Rows: the two agents; columns: wins, losses (a draw counts half to each). Same
    statistic as statsmodels' ``StratifiedTable(tables).test_null_odds(correction)``.
    """
    array = np.asarray(tables, dtype=float)
    if array.ndim != 3 or array.shape[1:] != (2, 2):
        raise ValueError(f"tables must have shape [strata, 2, 2], not {list(array.shape)}")
    if np.any(array < 0):
        raise ValueError("counts must be non-negative")
    a, b, c, d = array[:, 0, 0], array[:, 0, 1], array[:, 1, 0], array[:, 1, 1]
    n = a + b + c + d
    used = n > 1
    row0, col0 = a + b, a + c
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = np.where(used, row0 * col0 / n, 0.0)
        variance = np.where(used, row0 * (c + d) * col0 * (b + d) / (n**2 * (n - 1)), 0.0)
        informative = int(np.sum(variance > 0))
        total_var = float(variance.sum())
        deviation = abs(float(a[used].sum() - expected.sum()))
        if correction:
            deviation = max(deviation - 0.5, 0.0)
        if total_var == 0.0:
            statistic, p = math.nan, math.nan
        else:
            statistic = deviation**2 / total_var
            p = float(stats.chi2.sf(statistic, 1))
        r = float(np.sum(np.where(used, a * d / n, 0.0)))
        s = float(np.sum(np.where(used, b * c / n, 0.0)))
        odds = r / s if s > 0 else (math.inf if r > 0 else math.nan)
    return StratifiedTest(statistic, p, odds, int(array.shape[0]), informative)


def win_loss_table(scores_a: Sequence[float], scores_b: Sequence[float]) -> list[list[float]]:
    """The 2x2 table [[wins_a, losses_a], [wins_b, losses_b]] of two agents' per-game
    scores against one member (a draw, 0.5, counts half a win and half a loss)."""
    wins_a, wins_b = float(np.sum(scores_a)), float(np.sum(scores_b))
    return [[wins_a, len(scores_a) - wins_a], [wins_b, len(scores_b) - wins_b]]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values (family-wise error), in the input order.

    nan (a claim without a test) stays nan and does not count in the family.
    """
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    m = tested.size
    running = 0.0
    for rank, index in enumerate(tested[np.argsort(p[tested], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * float(p[index])))
        adjusted[index] = running
    return adjusted.tolist()


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (false discovery rate; scipy's), nan kept."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full(p.shape, math.nan)
    tested = ~np.isnan(p)
    if tested.any():
        adjusted[tested] = stats.false_discovery_control(p[tested], method="bh")
    return adjusted.tolist()


class Verdict(StrEnum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    NOT_SUPPORTED = "not supported"
    TOO_FEW_GAMES = "too few games"


def verdict(
    value: float,
    adjusted_p: float,
    games: int,
    *,
    claimed_sign: int = 1,
    alpha: float = ALPHA,
    min_games: int = MIN_GAMES,
) -> Verdict:
    """The claim "the effect has sign `claimed_sign`", decided by its adjusted p-value.

    `games` is the smallest number of games in any cell the claim compares; below
    `min_games` there is no verdict, whatever the p-value says.
    """
    if claimed_sign not in (1, -1):
        raise ValueError("claimed_sign must be 1 or -1")
    if games < min_games or not math.isfinite(adjusted_p) or not math.isfinite(value):
        return Verdict.TOO_FEW_GAMES
    if adjusted_p >= alpha or value == 0.0:
        return Verdict.NOT_SUPPORTED
    return Verdict.SUPPORTED if value * claimed_sign > 0 else Verdict.CONTRADICTED


def power_two_proportions(p0: float, p1: float, games: int, alpha: float = ALPHA) -> float:
    """Power of a two-sided two-proportion z test (unpooled) with `games` per side."""
    if games < 1:
        return 0.0
    se = math.sqrt((p0 * (1 - p0) + p1 * (1 - p1)) / games)
    if se == 0.0:
        return 1.0 if p0 != p1 else 0.0
    z = float(stats.norm.ppf(1 - alpha / 2))
    shift = abs(p1 - p0) / se
    return float(stats.norm.cdf(shift - z) + stats.norm.cdf(-shift - z))


def games_for_power(p0: float, p1: float, power: float = 0.8, alpha: float = ALPHA) -> int:
    """Fewest games per side for `power` to tell `p0` from `p1` (see above)."""
    if p0 == p1:
        raise ValueError("equal proportions cannot be told apart")
    games = 1
    while power_two_proportions(p0, p1, games, alpha) < power:
        games += 1
    return games


__all__ = [
    "ALPHA",
    "MIN_GAMES",
    "Contrast",
    "Estimate",
    "StratifiedTest",
    "Verdict",
    "benjamini_hochberg",
    "clustered_mean",
    "cochran_mantel_haenszel",
    "difference",
    "difference_in_differences",
    "difference_of_estimates",
    "difference_of_proportions",
    "games_for_power",
    "holm",
    "pooled_mean",
    "power_two_proportions",
    "verdict",
    "win_loss_table",
]
