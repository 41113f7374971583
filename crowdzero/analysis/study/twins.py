"""Exploitation measured on flawed twins, the out-of-the-box pattern, and the primary
claims' verdicts (issue #13).

Pure functions over finished `Game` records (the study store's), so every number can be
recomputed from shipped games:

* `twin_pairs`: the crowd's flawed members (``flawed:FLAW:SPEC``) with their twins
  (SPEC), which must be held out of the crowd (a twin in the crowd would let the agent
  train against the flaw-free version too).
* `exploitation`: for one agent, one control and one pair, the difference in
  differences (agent vs flawed - agent vs twin) - (control vs flawed - control vs twin)
  with its interval, and the agent's flaw-trigger rate against the flawed member.
  `pooled_exploitation` averages it over the pairs (equal weights; the pairs' games are
  independent, so the variances add up divided by the square of the number of pairs).
* `pattern_games`: in how many of a player's games a behaviour (an exploit pattern such
  as `early_passes`) appears. Out-of-the-box play is a pattern that appears in the
  agent's games and in no member-vs-member game of its crowd.
* `value_consistency`: the outcome-free value measure, how far one agent's predicted
  win probability moves across its own move.
* `decide_primary`: Holm across the primary claims, then the verdict rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

from scipy import stats

from crowdzero.analysis.inference import (
    Contrast,
    Estimate,
    Verdict,
    clustered_mean,
    difference_in_differences,
    holm,
    pooled_mean,
    verdict,
)
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.play.record import Game
from crowdzero.players.flawed import Flaw, flaw_of, twin_of


class TwinError(ValueError):
    """A crowd whose flawed members' twins are not held out, or similar."""


@dataclass(frozen=True)
class TwinPair:
    """A flawed member (its crowd name) and its twin (the held-out spec)."""

    flawed: str
    twin: str
    flaw: Flaw


def twin_pairs(members: Iterable[str], held_out: Iterable[str]) -> list[TwinPair]:
    """Every flawed member of the crowd with its twin; TwinError when a twin is a crowd
    member or is missing from the held-out list. `members` are the members' specs (the
    crowd's names of flawed members must be their specs, so games can be told apart)."""
    member_specs = list(members)
    held = set(held_out)
    pairs: list[TwinPair] = []
    for spec in member_specs:
        flaw, twin = flaw_of(spec), twin_of(spec)
        if flaw is None or twin is None:
            continue
        if twin in member_specs:
            raise TwinError(f"{spec}'s twin {twin} is a crowd member; hold it out instead")
        if twin not in held:
            raise TwinError(f"{spec}'s twin {twin} is not in [study] held_out")
        pairs.append(TwinPair(spec, twin, flaw))
    return pairs


def scores(games: Iterable[Game], player: str, opponent: str) -> list[float]:
    """`player`'s score (1 win, 0.5 draw, 0 loss) in each game against `opponent`."""
    found: list[float] = []
    for game in games:
        if game.black == player and game.white == opponent:
            found.append(game.score_for(BLACK))
        elif game.white == player and game.black == opponent:
            found.append(game.score_for(WHITE))
    return found


@dataclass(frozen=True)
class Exploitation:
    """One agent against one control on one twin pair."""

    pair: TwinPair
    agent: str
    control: str
    contrast: Contrast
    agent_trigger_rate: float  # share of the agent's games vs the flawed member that fired
    control_trigger_rate: float


def trigger_rate(games: Iterable[Game], player: str, member: str, flaw: Flaw) -> float:
    """Share of `player`'s games against `member` where `flaw`'s detector fired on
    `member`'s seat (nan without games)."""
    mine = [g for g in games if {g.black, g.white} == {player, member}]
    if not mine:
        return math.nan
    fired = sum(flaw.detect(g, -g.colour_of(player)).triggered for g in mine)
    return fired / len(mine)


def exploitation(games: Sequence[Game], agent: str, control: str, pair: TwinPair) -> Exploitation:
    """The difference in differences of `agent` over `control` on `pair`."""
    contrast = difference_in_differences(
        scores(games, agent, pair.flawed),
        scores(games, agent, pair.twin),
        scores(games, control, pair.flawed),
        scores(games, control, pair.twin),
    )
    return Exploitation(
        pair,
        agent,
        control,
        contrast,
        trigger_rate(games, agent, pair.flawed, pair.flaw),
        trigger_rate(games, control, pair.flawed, pair.flaw),
    )


def pooled_exploitation(results: Sequence[Exploitation]) -> Contrast:
    """The mean difference in differences over pairs, its interval and two-sided p."""
    return pooled_mean([r.contrast.estimate for r in results])


Pattern = Callable[[Game, int], Sequence[int]]
"""A behaviour found in a record: the plies where the player at a colour shows it."""


def pattern_games(games: Iterable[Game], player: str, pattern: Pattern) -> tuple[int, int]:
    """(games where `player` showed `pattern`, games `player` played)."""
    shown = total = 0
    for game in games:
        if player not in (game.black, game.white):
            continue
        total += 1
        shown += bool(pattern(game, game.colour_of(player)))
    return shown, total


def members_showing(
    games: Iterable[Game], members: Iterable[str], pattern: Pattern
) -> dict[str, tuple[int, int]]:
    """For member-vs-member games: per member, (games with the pattern, games). An
    out-of-the-box pattern has 0 in the first number for every member."""
    listed = set(members)
    inside = [g for g in games if g.black in listed and g.white in listed]
    return {m: pattern_games(inside, m, pattern) for m in sorted(listed)}


def more_often(shown_a: tuple[int, int], shown_b: tuple[int, int]) -> float:
    """One-sided Fisher exact p that player a shows a pattern in more games than b."""
    (a, n_a), (b, n_b) = shown_a, shown_b
    table = [[a, n_a - a], [b, n_b - b]]
    return float(stats.fisher_exact(table, alternative="greater").pvalue)


def value_consistency(
    games: Sequence[Hashable], before: Sequence[float], after: Sequence[float]
) -> Estimate:
    """Mean |P(win) before the agent's move - P(win) after it|, clustered by game.

    `before` is the agent's value head v in [-1, 1] where it is to move; `after` the
    same network's v at the position right after its move, where the opponent is to move
    (so the agent's chance is (1 - v) / 2). A value function that is right about its own
    move changes little across it; no game result enters.
    """
    if not len(games) == len(before) == len(after):
        raise ValueError("games, before and after must have one entry per agent move")
    gaps = [abs((b + 1) / 2 - (1 - a) / 2) for b, a in zip(before, after, strict=True)]
    return clustered_mean(gaps, list(games))


def consistency_claim(
    crowd: Estimate, control: Estimate, control_label: str = "self"
) -> PrimaryClaim:
    """Claim 5: the crowd agent's value head moves more across its own move than the
    control's (`value_consistency` of each; positive difference = claimed). The two
    agents' games are independent, so the variances add; normal two-sided p. Its games
    are the fewer of the two agents' games."""
    name, text = (
        "claim 5",
        f"crowd's value head is less consistent across its move than {control_label}'s",
    )
    value = crowd.value - control.value
    variance = crowd.se**2 + control.se**2
    games = min(crowd.games, control.games)
    if not (math.isfinite(value) and math.isfinite(variance)):
        return PrimaryClaim(name, text, value, math.nan, games)
    se = math.sqrt(variance)
    p = (0.0 if value else 1.0) if se == 0 else float(2 * stats.norm.sf(abs(value) / se))
    return PrimaryClaim(name, text, value, p, games)


@dataclass(frozen=True)
class PrimaryClaim:
    """One pre-registered claim: its estimate, raw p-value, games and claimed sign."""

    name: str
    text: str
    value: float
    p_value: float
    games: int
    claimed_sign: int = 1


@dataclass(frozen=True)
class Decision:
    claim: PrimaryClaim
    adjusted_p: float
    verdict: Verdict


def decide_primary(claims: Sequence[PrimaryClaim]) -> list[Decision]:
    """Holm across the claims, then `verdict` (fewer than 20 games: no verdict)."""
    adjusted = holm([c.p_value for c in claims])
    return [
        Decision(c, p, verdict(c.value, p, c.games, claimed_sign=c.claimed_sign))
        for c, p in zip(claims, adjusted, strict=True)
    ]


__all__ = [
    "Decision",
    "Exploitation",
    "PrimaryClaim",
    "TwinError",
    "TwinPair",
    "consistency_claim",
    "decide_primary",
    "exploitation",
    "members_showing",
    "more_often",
    "pattern_games",
    "pooled_exploitation",
    "scores",
    "trigger_rate",
    "twin_pairs",
    "value_consistency",
]
