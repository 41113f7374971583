"""PUCT: AlphaZero's selection rule, its root noise and its move choice.

Notation as in the AlphaZero paper (Silver et al. 2018), for one node s and its actions a:

    N(s, a)  visits through a            W(s, a)  summed values through a
    Q(s, a) = W(s, a) / N(s, a)          P(s, a)  prior (network policy, 0 if illegal)
    c(s)    = c_init + log((1 + N(s) + c_base) / c_base)
    U(s, a) = c(s) * P(s, a) * sqrt(N(s)) / (1 + N(s, a))
    a*      = argmax_a Q(s, a) + U(s, a)          over legal a

Values are from the view of the player to move at s (the one choosing a), so Q is
"how good is a for me" and the argmax needs no sign juggling.

`puct_select` is compiled with numba because the descent calls it once per tree level for
every simulation of every game; it is written as the vectorised expression above.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def puct_select(
    child_n: np.ndarray,
    child_w: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    node_n: float,
    node_w: float,
    c_init: float,
    c_base: float,
    fpu_reduction: float,
) -> int:
    """argmax_a Q(s, a) + U(s, a) over the legal actions of one node.

    child_n, child_w, prior float64 [A]; legal bool [A]; node_n, node_w the node's own
    visit count and value sum (its own view), used for c(s), sqrt(N(s)) and the first-play
    value.

    An unvisited child has no Q of its own. It starts from the node's current value
    Q(s) (the best estimate of how good "some move here" is, which keeps exploration
    independent of who is winning, unlike Q = 0 or Q = -1), reduced by
    ``fpu_reduction * sqrt(prior mass of the visited children)`` as in Leela Zero: the
    more of the policy the search has already tried, the more it assumes the untried
    rest is worse, so it deepens good lines instead of spreading one visit over every
    legal move; while little has been tried the reduction is small, so a flat prior
    still gets explored.
    """
    size = child_n.size
    visited_mass = 0.0
    for a in range(size):
        if child_n[a] > 0.0:
            visited_mass += prior[a]
    first_play = node_w / max(node_n, 1.0) - fpu_reduction * math.sqrt(visited_mass)
    c = c_init + math.log((1.0 + node_n + c_base) / c_base)
    c_sqrt_n = c * math.sqrt(node_n)
    # Q + U over the legal actions, as a loop (no temporaries: called at every level).
    best = -1
    best_score = -np.inf
    for a in range(size):
        if legal[a]:
            n = child_n[a]
            q = child_w[a] / n if n > 0.0 else first_play
            score = q + c_sqrt_n * prior[a] / (1.0 + n)
            if score > best_score:
                best_score = score
                best = a
    return best


def add_dirichlet_noise(
    prior: np.ndarray,
    legal: np.ndarray,
    alpha: float,
    fraction: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """(1 - fraction) * P + fraction * Dir(alpha), the noise spread over legal moves only.

    AlphaZero's root exploration: every legal move gets some prior mass, so self-play
    occasionally tries moves the network dismisses. Returns a new float64 [A] array.
    """
    noisy = prior.astype(np.float64, copy=True)
    index = np.flatnonzero(legal)
    if fraction <= 0.0 or index.size < 2:
        return noisy
    noise = rng.dirichlet(np.full(index.size, alpha))
    noisy[index] = (1.0 - fraction) * noisy[index] + fraction * noise
    return noisy


def visit_policy(visits: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The training target of PUCT: root visit counts normalised, float32 [A].

    Falls back to uniform over legal moves when nothing was visited (cannot happen with
    at least one simulation, but a target must always be a distribution).
    """
    counts = np.where(legal, visits, 0.0)
    total = counts.sum()
    if total <= 0.0:
        counts = legal.astype(np.float64)
        total = counts.sum()
    return (counts / total).astype(np.float32)


def choose_by_visits(
    visits: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    sample: bool,
    rng: np.random.Generator,
) -> int:
    """The move PUCT plays: sampled in proportion to visits (temperature 1) when
    ``sample``, else the most visited legal move, ties broken by the prior."""
    counts = np.where(legal, visits, 0.0)
    if sample and counts.sum() > 0.0:
        return int(rng.choice(counts.size, p=counts / counts.sum()))
    return int(np.argmax(np.where(legal, counts + 1e-3 * prior, -np.inf)))
