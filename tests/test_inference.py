"""The study's statistics against reference answers computed with statsmodels 0.15 on the
same fixed data (statsmodels is not a dependency; the numbers are pasted here), plus
properties that must hold for any data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdzero.analysis.inference import (
    MIN_GAMES,
    Estimate,
    Verdict,
    benjamini_hochberg,
    clustered_mean,
    cochran_mantel_haenszel,
    difference,
    difference_in_differences,
    difference_of_estimates,
    difference_of_proportions,
    games_for_power,
    holm,
    pooled_mean,
    power_two_proportions,
    verdict,
    wilson_interval,
    win_loss_table,
)

VALUES = [1, 0, 1, 1, 0.5, 0, 1, 1, 0, 1, 0.2, 0.9]
GAMES = [0, 0, 1, 1, 1, 2, 3, 3, 4, 4, 4, 5]
# Stratum 2 (every game a win for both agents) carries no information.
TABLES = [
    [[12, 8], [7, 13]],
    [[20, 0], [20, 0]],
    [[3, 17], [1, 19]],
    [[9, 11], [5, 15]],
]
P_VALUES = [0.01, 0.04, 0.03, 0.2, 0.005]


def test_clustered_mean_matches_statsmodels_cluster_robust_intercept() -> None:
    # sm.OLS(y, ones).fit(cov_type="cluster", cov_kwds={"groups": g}, use_t=True)
    estimate = clustered_mean(VALUES, GAMES)
    assert estimate.value == pytest.approx(0.6333333333333336)
    assert estimate.se == pytest.approx(0.12685658277201306)
    assert (estimate.low, estimate.high) == pytest.approx((0.30723811, 0.95942856))
    assert (estimate.n, estimate.games) == (12, 6)


def test_one_game_gives_no_interval_rather_than_a_zero_width_one() -> None:
    estimate = clustered_mean([1.0, 1.0, 1.0], ["g", "g", "g"])
    assert estimate.games == 1
    assert math.isnan(estimate.low) and math.isnan(estimate.high)


def test_cmh_matches_statsmodels_stratified_table() -> None:
    # StratifiedTable(tables.transpose(1, 2, 0)).test_null_odds(correction)
    plain = cochran_mantel_haenszel(TABLES)
    assert plain.statistic == pytest.approx(5.202866593164278)
    assert plain.p_value == pytest.approx(0.022549671471499222)
    assert plain.odds_ratio == pytest.approx(2.71875)
    corrected = cochran_mantel_haenszel(TABLES, correction=True)
    assert corrected.p_value == pytest.approx(0.038114843916767005)
    assert (plain.strata, plain.informative) == (4, 3)


def test_strata_where_everyone_wins_do_not_change_the_cmh_test() -> None:
    informative = [t for t in TABLES if t != [[20, 0], [20, 0]]]
    padded = [*informative, [[0, 30], [0, 30]], [[25, 0], [25, 0]]]
    assert cochran_mantel_haenszel(padded).p_value == pytest.approx(
        cochran_mantel_haenszel(informative).p_value
    )


def test_holm_and_bh_match_statsmodels_multipletests() -> None:
    assert holm(P_VALUES) == pytest.approx([0.04, 0.09, 0.09, 0.2, 0.025])
    assert benjamini_hochberg(P_VALUES) == pytest.approx([0.025, 0.05, 0.05, 0.2, 0.025])


def test_holm_leaves_untested_claims_out_of_the_family() -> None:
    adjusted = holm([0.01, math.nan, 0.04])
    assert adjusted[0] == pytest.approx(0.02) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])


@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_holm_never_lowers_a_p_value_and_keeps_their_order(p: list[float]) -> None:
    adjusted = holm(p)
    assert all(a >= q - 1e-12 and a <= 1.0 for a, q in zip(adjusted, p, strict=True))
    order = np.argsort(p, kind="stable")
    assert all(np.diff(np.asarray(adjusted)[order]) >= -1e-12)


def test_difference_in_differences_of_known_cells() -> None:
    # Agent: 80% vs flawed, 50% vs twin; control: 55% vs flawed, 50% vs twin -> +0.25.
    agent_flawed = [1.0] * 80 + [0.0] * 20
    halves = [1.0] * 50 + [0.0] * 50
    control_flawed = [1.0] * 55 + [0.0] * 45
    contrast = difference_in_differences(agent_flawed, halves, control_flawed, halves)
    assert contrast.value == pytest.approx(0.25)
    # Each cell's variance is p(1-p)/(n-1) (the unbiased one, from CR1 with n clusters).
    expected = math.sqrt((0.16 + 0.25 + 0.2475 + 0.25) / 99)
    assert contrast.estimate.se == pytest.approx(expected)
    assert contrast.p_value < 0.05 and contrast.estimate.games == 100


def test_difference_of_two_agents_equal_scores_is_not_significant() -> None:
    scores = [1.0, 0.0] * 30
    assert difference(scores, scores).p_value == pytest.approx(1.0)


def test_win_loss_table_counts_draws_half() -> None:
    assert win_loss_table([1, 0.5, 0], [0, 0]) == [[1.5, 1.5], [0.0, 2.0]]


def test_verdicts_follow_the_adjusted_p_value_and_refuse_small_samples() -> None:
    assert verdict(0.2, 0.01, MIN_GAMES) is Verdict.SUPPORTED
    assert verdict(-0.2, 0.01, MIN_GAMES) is Verdict.CONTRADICTED
    assert verdict(0.2, 0.2, MIN_GAMES) is Verdict.NOT_SUPPORTED
    assert verdict(0.2, 1e-9, MIN_GAMES - 1) is Verdict.TOO_FEW_GAMES
    assert verdict(-0.2, 0.01, 100, claimed_sign=-1) is Verdict.SUPPORTED


def test_twenty_games_a_pairing_have_little_power_for_fifty_versus_seventy() -> None:
    # The first study's design (issue #13): about a quarter.
    assert 0.2 < power_two_proportions(0.5, 0.7, 20) < 0.3
    needed = games_for_power(0.5, 0.7, power=0.8)
    assert 85 <= needed <= 95
    assert power_two_proportions(0.5, 0.7, needed) >= 0.8


def test_wilson_interval_matches_published_values() -> None:
    # statsmodels proportion_confint(7, 10, method="wilson") and (0, 10): the textbook cases.
    assert wilson_interval(7, 10) == pytest.approx((0.396778, 0.892209), abs=1e-6)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.277533, abs=1e-6))
    assert wilson_interval(10, 10) == (pytest.approx(0.722467, abs=1e-6), 1.0)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError, match="0 <= successes <= n"):
        wilson_interval(11, 10)


@pytest.mark.parametrize(
    ("a", "n_a", "b", "n_b", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:873, Table II, method 10
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (6, 7, 2, 7, 0.0582, 0.8062),
        (5, 56, 0, 29, -0.0381, 0.1926),
    ],
)
def test_difference_of_proportions_matches_newcombes_published_intervals(
    a: int, n_a: int, b: int, n_b: int, low: float, high: float
) -> None:
    found = difference_of_proportions(a, n_a, b, n_b)
    assert found.value == pytest.approx(a / n_a - b / n_b)
    assert (found.low, found.high) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))


def test_a_difference_of_two_certain_samples_keeps_a_width_and_pools() -> None:
    # 0 of 20 against 0 of 20: the normal interval is [0, 0]; Newcombe's is not.
    none = difference_of_proportions(0, 20, 0, 20)
    assert none.value == 0.0 and none.low == pytest.approx(-0.1611, abs=1e-4) and none.se > 0
    assert math.isnan(difference_of_proportions(3, 10, 0, 0).value)
    pooled = pooled_mean([none, none, difference_of_proportions(3, 10, 0, 0)])
    assert pooled.value == 0.0 and pooled.estimate.se == pytest.approx(none.se / math.sqrt(2))
    assert math.isnan(pooled_mean([]).value)


def test_the_difference_of_two_independent_estimates_adds_their_variances() -> None:
    crowd, control = Estimate(0.10, 0.03, 0.0, 0.0, 60, 20), Estimate(-0.05, 0.04, 0.0, 0.0, 40, 20)
    contrast = difference_of_estimates(crowd, control)
    assert contrast.value == pytest.approx(0.15) and contrast.estimate.se == pytest.approx(0.05)
    assert contrast.estimate.low == pytest.approx(0.15 - 1.959963984540054 * 0.05)
    assert contrast.p_value == pytest.approx(0.0026997960632601866)  # 2 * norm.sf(3)
    assert (contrast.estimate.n, contrast.estimate.games) == (100, 20)
    # Without a standard error on one side there is no interval and no p.
    unknown = difference_of_estimates(crowd, Estimate(0.0, math.nan, math.nan, math.nan, 1, 1))
    assert math.isnan(unknown.estimate.low) and math.isnan(unknown.p_value)


@given(st.integers(1, 500).flatmap(lambda n: st.tuples(st.integers(0, 2 * n), st.just(n))))
def test_wilson_interval_holds_the_half_point_estimate_inside_zero_one(
    case: tuple[int, int],
) -> None:
    halves, n = case  # a score counted in half points, as a drawn game gives
    low, high = wilson_interval(halves / 2, n)
    assert 0.0 <= low <= halves / (2 * n) <= high <= 1.0
