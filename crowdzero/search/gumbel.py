"""Gumbel search (Danihelka et al. 2022, "Policy improvement by planning with Gumbel").

At the root: draw Gumbel noise g(a), keep the m legal actions with the largest
g(a) + logits(a) (Gumbel-top-k: a sample without replacement from the policy), then
spend the simulation budget on them by sequential halving, each round dropping the half
with the lowest g(a) + logits(a) + sigma(completedQ(a)). The move played is the survivor
with the highest score; the policy target is softmax(logits + sigma(completedQ)) over all
legal moves. Below the root the choice is deterministic: the action whose share of visits
lags most behind that improved policy.

Notation for one node (values from the view of the player to move there):
    completedQ(a) = Q(a) if N(a) > 0 else v_mix
    v_mix         = (v + sum_b N(b) * sum_{visited b} pi(b) Q(b) / sum_{visited b} pi(b))
                    / (1 + sum_b N(b))        (v = the node's network value, pi = prior)
    sigma(q)      = (c_visit + max_b N(b)) * c_scale * q,  q rescaled to [0, 1] first

v_mix is the value of the node "if the unvisited moves are as good as the policy-weighted
visited ones", so an unvisited move is neither favoured nor dismissed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit


@njit(cache=True)
def sigma_completed_q(
    child_n: np.ndarray,
    child_w: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    raw_value: float,
    c_visit: float,
    c_scale: float,
) -> np.ndarray:
    """sigma(completedQ) float64 [A] for one node; 0 on illegal actions.

    child_n, child_w, prior float64 [A]; legal bool [A]; raw_value the node's network
    value. Q is rescaled to [0, 1] by the min and max of the completed values over the
    legal actions, as mctx does, so c_visit and c_scale mean the same on any value range.
    """
    visited = child_n > 0.0
    q = child_w / np.maximum(child_n, 1.0)
    total_n = child_n.sum()
    visited_prior = np.where(visited, prior, 0.0).sum()
    v_mix = raw_value
    if total_n > 0.0 and visited_prior > 0.0:
        weighted_q = np.where(visited, prior * q, 0.0).sum() / visited_prior
        v_mix = (raw_value + total_n * weighted_q) / (1.0 + total_n)
    completed = np.where(visited, q, v_mix)
    lo = np.inf
    hi = -np.inf
    for a in range(completed.size):
        if legal[a]:
            lo = min(lo, completed[a])
            hi = max(hi, completed[a])
    scaled = (completed - lo) / max(hi - lo, 1e-8)
    return np.where(legal, (c_visit + child_n.max()) * c_scale * scaled, 0.0)


@njit(cache=True)
def log_prior(prior: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The logits the search works with: log P, -inf on illegal actions, float64 [A]."""
    return np.where(legal, np.log(np.maximum(prior, 1e-30)), -np.inf)


@njit(cache=True)
def gumbel_interior_select(
    child_n: np.ndarray,
    child_w: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    raw_value: float,
    c_visit: float,
    c_scale: float,
) -> int:
    """argmax_a pi'(a) - N(a) / (1 + sum_b N(b)), pi' = softmax(logits + sigma(completedQ)).

    Deterministic: repeated calls make the visit shares track the improved policy pi'
    (section 5 of the paper), without the exploration bonus PUCT needs.
    """
    z = log_prior(prior, legal) + sigma_completed_q(
        child_n, child_w, prior, legal, raw_value, c_visit, c_scale
    )
    z = np.exp(z - z.max())
    improved = z / z.sum()
    score = improved - child_n / (1.0 + child_n.sum())
    return int(np.argmax(np.where(legal, score, -np.inf)))


@lru_cache(maxsize=256)
def considered_visits(considered: int, simulations: int) -> tuple[int, ...]:
    """Sequential halving as a schedule: the visit count a root action must have to be
    chosen by simulation i, for i in 0..simulations-1.

    With m actions the budget is split into about log2(m) phases; each phase gives every
    surviving action the same number of visits, then the better half survives. Choosing
    "the best action among those with exactly considered_visits[i] visits" at simulation i
    walks through that plan one simulation at a time.
    """
    if considered <= 1:
        return tuple(range(simulations))
    phases = math.ceil(math.log2(considered))
    schedule: list[int] = []
    visits = [0] * considered
    alive = considered
    while len(schedule) < simulations:
        extra = max(1, simulations // (phases * alive))
        for _ in range(extra):
            schedule.extend(visits[:alive])
            for i in range(alive):
                visits[i] += 1
        alive = max(2, alive // 2)
    return tuple(schedule[:simulations])


@dataclass
class GumbelRoot:
    """The root's state during one Gumbel search.

    gumbel     float64 [A]  the noise g (zeros without noise: a deterministic search)
    logits     float64 [A]  log prior, -inf on illegal moves
    considered bool [A]     the Gumbel-top-k actions
    new_visits int64 [A]    visits started at the root during this search (a reused subtree
                            brings older visits; sequential halving counts only new ones)
    schedule                considered_visits(min(m, legal moves), simulations)
    """

    gumbel: np.ndarray
    logits: np.ndarray
    considered: np.ndarray
    new_visits: np.ndarray
    schedule: tuple[int, ...]

    @classmethod
    def start(
        cls,
        prior: np.ndarray,
        legal: np.ndarray,
        considered: int,
        simulations: int,
        rng: np.random.Generator | None,
    ) -> GumbelRoot:
        """Draw g (when ``rng`` is given) and keep the top-m of g + logits."""
        logits = log_prior(prior, legal)
        gumbel = rng.gumbel(size=prior.size) if rng is not None else np.zeros(prior.size)
        gumbel = np.where(legal, gumbel, 0.0)
        m = min(considered, int(legal.sum()))
        order = np.argsort(-(gumbel + logits), kind="stable")[:m]
        chosen = np.zeros(prior.size, dtype=np.bool_)
        chosen[order] = True
        return cls(
            gumbel=gumbel,
            logits=logits,
            considered=chosen,
            new_visits=np.zeros(prior.size, dtype=np.int64),
            schedule=considered_visits(m, simulations),
        )

    def _best(self, candidates: np.ndarray, sigma_q: np.ndarray) -> int:
        score = self.gumbel + self.logits + sigma_q
        return int(np.argmax(np.where(candidates, score, -np.inf)))

    def select(self, sigma_q: np.ndarray) -> int:
        """The root action of the next simulation: the best considered action among those
        that have exactly the visit count the halving schedule asks for now."""
        step = int(self.new_visits.sum())
        target = self.schedule[min(step, len(self.schedule) - 1)]
        candidates = self.considered & (self.new_visits == target)
        if not candidates.any():  # pending descents can skew the plan; fall back gently
            low = self.new_visits[self.considered].min()
            candidates = self.considered & (self.new_visits == low)
        return self._best(candidates, sigma_q)

    def winner(self, sigma_q: np.ndarray) -> int:
        """The move to play: the best of the most visited considered actions."""
        most = self.new_visits[self.considered].max()
        return self._best(self.considered & (self.new_visits == most), sigma_q)


def improved_policy(logits: np.ndarray, sigma_q: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The Gumbel training target softmax(logits + sigma(completedQ)), float32 [A], 0 on
    illegal moves."""
    z = np.where(legal, logits + sigma_q, -np.inf)
    z = np.exp(z - z.max())
    return (z / z.sum()).astype(np.float32)
