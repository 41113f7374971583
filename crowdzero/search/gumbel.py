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

The scale. The paper uses c_visit = 50, c_scale = 1.0 with Q normalised by the known
value range ([-1, 1] -> [0, 1]), where typical Q gaps of a few hundredths stay a few
logits. Here, as in mctx's ``qtransform_completed_by_mix_value``, completedQ is rescaled
by its own min and max at each node, so the best and the worst move are always exactly 1
apart however small their real gap; mctx pairs that rescale with value_scale (our
c_scale) 0.1, so the spread is (50 + max N) * 0.1, about 5-6 logits. With c_scale 1.0 the
spread was 50+ logits and 16-simulation targets came out nearly one-hot (`SearchConfig`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numba import njit

#: Floor of a prior inside v_mix (mctx uses its dtype's smallest normal number).
_TINY = 1e-300


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
    legal actions (epsilon 1e-8 on the range, as mctx). mctx takes them over its whole
    padded action vector, so an illegal action brings v_mix into the range even when
    every legal move is visited; here only legal moves count, which differs from mctx
    only in that case. Priors enter v_mix floored at a tiny positive number, as in mctx,
    so visited moves whose prior underflowed to 0 still give a weighted Q.
    Written as loops (one output array, no temporaries): the descent calls this at
    every level of every simulation.
    """
    size = child_n.size
    total_n = 0.0
    max_n = 0.0
    visited_prior = 0.0
    weighted = 0.0
    for a in range(size):
        n = child_n[a]
        if n > 0.0:
            total_n += n
            max_n = max(max_n, n)
            p = max(prior[a], _TINY)
            visited_prior += p
            weighted += p * child_w[a] / n
    v_mix = raw_value
    if total_n > 0.0:
        v_mix = (raw_value + total_n * weighted / visited_prior) / (1.0 + total_n)
    out = np.zeros(size)
    lo = np.inf
    hi = -np.inf
    for a in range(size):
        if legal[a]:
            q = child_w[a] / child_n[a] if child_n[a] > 0.0 else v_mix
            out[a] = q
            lo = min(lo, q)
            hi = max(hi, q)
    scale = (c_visit + max_n) * c_scale / max(hi - lo, 1e-8)
    for a in range(size):
        if legal[a]:
            out[a] = (out[a] - lo) * scale
    return out


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
    z = sigma_completed_q(child_n, child_w, prior, legal, raw_value, c_visit, c_scale)
    size = z.size
    top = -np.inf
    total_n = 0.0
    for a in range(size):
        total_n += child_n[a]
        if legal[a]:
            z[a] += np.log(max(prior[a], 1e-30))
            top = max(top, z[a])
    norm = 0.0
    for a in range(size):
        if legal[a]:
            z[a] = np.exp(z[a] - top)
            norm += z[a]
    best = -1
    best_score = -np.inf
    for a in range(size):
        if legal[a]:
            score = z[a] / norm - child_n[a] / (1.0 + total_n)
            if score > best_score:
                best_score = score
                best = a
    return best


@njit(cache=True)
def _best_considered(
    candidates: np.ndarray, gumbel: np.ndarray, logits: np.ndarray, sigma_q: np.ndarray
) -> int:
    """argmax of g + logits + sigma(completedQ) over the candidate actions."""
    best = -1
    best_score = -np.inf
    for a in range(candidates.size):
        if candidates[a]:
            score = gumbel[a] + logits[a] + sigma_q[a]
            if score > best_score:
                best_score = score
                best = a
    return best


@njit(cache=True)
def gumbel_root_select(
    child_n: np.ndarray,
    child_w: np.ndarray,
    prior: np.ndarray,
    legal: np.ndarray,
    raw_value: float,
    c_visit: float,
    c_scale: float,
    gumbel: np.ndarray,
    logits: np.ndarray,
    considered: np.ndarray,
    new_visits: np.ndarray,
    target: int,
) -> int:
    """Sequential halving's next root action: the best considered action (by
    g + logits + sigma(completedQ)) among those with exactly ``target`` new visits; if
    pending descents left none at that count, the least visited considered ones."""
    sigma_q = sigma_completed_q(child_n, child_w, prior, legal, raw_value, c_visit, c_scale)
    candidates = considered & (new_visits == target)
    if not candidates.any():
        low = new_visits.max()
        for a in range(considered.size):
            if considered[a]:
                low = min(low, new_visits[a])
        candidates = considered & (new_visits == low)
    return _best_considered(candidates, gumbel, logits, sigma_q)


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
    started                 sum of new_visits: the index into the schedule
    """

    gumbel: np.ndarray
    logits: np.ndarray
    considered: np.ndarray
    new_visits: np.ndarray
    schedule: tuple[int, ...]
    started: int = 0

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

    def select(
        self,
        child_n: np.ndarray,
        child_w: np.ndarray,
        prior: np.ndarray,
        legal: np.ndarray,
        raw_value: float,
        c_visit: float,
        c_scale: float,
    ) -> int:
        """The root action of the next simulation (the root's N, W, P, legal and value
        are passed in), counted as a new visit at once: see `gumbel_root_select`."""
        target = self.schedule[min(self.started, len(self.schedule) - 1)]
        action = int(
            gumbel_root_select(
                child_n,
                child_w,
                prior,
                legal,
                raw_value,
                c_visit,
                c_scale,
                self.gumbel,
                self.logits,
                self.considered,
                self.new_visits,
                target,
            )
        )
        self.new_visits[action] += 1
        self.started += 1
        return action

    def cancel(self, action: int) -> None:
        """Take back a root visit whose descent was abandoned."""
        self.new_visits[action] -= 1
        self.started -= 1

    def winner(self, sigma_q: np.ndarray) -> int:
        """The move to play: the best of the most visited considered actions."""
        most = self.new_visits[self.considered].max()
        candidates = self.considered & (self.new_visits == most)
        return int(_best_considered(candidates, self.gumbel, self.logits, sigma_q))


def improved_policy(logits: np.ndarray, sigma_q: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """The Gumbel training target softmax(logits + sigma(completedQ)), float32 [A], 0 on
    illegal moves."""
    z = np.where(legal, logits + sigma_q, -np.inf)
    z = np.exp(z - z.max())
    return (z / z.sum()).astype(np.float32)
