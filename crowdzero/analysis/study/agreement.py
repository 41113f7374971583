"""Top-1 agreement of an agent's real search with crowd members, on positions from
member-vs-member games that no evaluated agent played (issue #13).

The first study's imitation test asked the raw network (no search) about positions the
crowd agent itself had played; a third of them were GnuGo or Pachi moves, where agreeing
only means playing well. Here:

* positions come from games between two crowd members (`scripts/record_twin_games.py`
  writes them), so no agent under study has seen them in training or evaluation;
* each agent answers with the search it plays with (its `AgentPlayer`: the run's own
  `SearchConfig`, noise off), many positions per `BatchedSearcher.search` call;
* agreement is reported per member and per group, the heuristic members (random movers
  and heuristic players, flawed or not) apart from the engines (GnuGo, Pachi, KataGo,
  plain MCTS, frozen networks and flawed wrappers of them), because copying an engine's
  move is hard to tell from playing well;
* intervals are clustered by game (CR1, `inference.clustered_mean`): the positions of one
  game are not independent; kept inside [0, 1], and Wilson's over the games where every
  position agreed or none did (`clustered_share`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from crowdzero.analysis.inference import Estimate, clustered_mean
from crowdzero.analysis.study import metrics as m
from crowdzero.analysis.study.collect import MemberPosition, StudyAgent, search_choices
from crowdzero.go.coords import RESIGN
from crowdzero.play.record import Game, Move
from crowdzero.players.flawed import twin_of

#: Group keys next to the per-member ones.
ALL = "all"
HEURISTICS = "heuristics"
ENGINES = "engines"
#: Kinds of player in the heuristic group; every other kind counts as an engine.
HEURISTIC_KINDS = frozenset({"random", "random-noeye", "heuristic"})


def member_group(name: str) -> str:
    """`HEURISTICS` or `ENGINES` for a member's name (or spec); a flawed member
    (``flawed:FLAW:SPEC``) belongs to the group of the player its flaw is planted in."""
    inner = twin_of(name) or name
    return HEURISTICS if inner.split(":", 1)[0] in HEURISTIC_KINDS else ENGINES


def member_vs_member(games: Iterable[Game], members: Collection[str]) -> list[Game]:
    """The games whose two seats are both in `members` (an agent, an exploiting player or
    anyone else in a seat puts the game out)."""
    listed = set(members)
    return [g for g in games if g.black in listed and g.white in listed and g.black != g.white]


def sample_member_game_positions(
    games: Sequence[Game],
    count: int,
    *,
    seed: int = 0,
    per_game: int = 4,
) -> list[MemberPosition]:
    """Up to `count` positions of `games` with the move the member to play made there, at
    most `per_game` from any one game (positions of one game are alike), chosen at
    random. `MemberPosition.game_id` is the game's index in `games`."""
    rng = np.random.default_rng(seed)
    picks: list[tuple[int, int]] = []
    for index, game in enumerate(games):
        plies = [i for i, move in enumerate(game.moves) if move.point != RESIGN]
        rng.shuffle(plies)
        picks += [(index, ply) for ply in sorted(plies[:per_game])]
    if len(picks) > count:
        chosen = rng.choice(len(picks), size=count, replace=False)
        picks = [picks[i] for i in sorted(chosen)]
    out: list[MemberPosition] = []
    for index, group in itertools.groupby(picks, key=lambda pick: pick[0]):
        game = games[index]
        # Only the moves: search targets of recorded games are not needed here.
        bare = replace(game, moves=tuple(Move(m.colour, m.point) for m in game.moves))
        positions = bare.positions()
        for _, ply in group:
            move = game.moves[ply]
            name = game.player(move.colour)
            out.append(MemberPosition(index, ply, name, positions[ply], move.point))
    return out


@dataclass(frozen=True)
class SearchAgreement:
    """One agent's search against the members' moves: by member, `HEURISTICS`, `ENGINES`
    and `ALL`, each the share of positions where the search chose the member's move,
    with a game-clustered 95% interval (`Estimate.games` = games behind it)."""

    agent: str
    simulations: int
    by_group: dict[str, Estimate]


def agreement_estimates(
    choices: Sequence[int], positions: Sequence[MemberPosition]
) -> dict[str, Estimate]:
    """Top-1 agreement of `choices` (one move per position) with the members' moves, per
    member and per group, clustered by game."""
    if len(choices) != len(positions):
        raise ValueError(f"{len(choices)} choices for {len(positions)} positions")
    hits = [float(c == p.move) for c, p in zip(choices, positions, strict=True)]
    groups: dict[str, list[int]] = {ALL: list(range(len(positions)))}
    members: dict[str, list[int]] = {}
    for i, p in enumerate(positions):
        groups.setdefault(member_group(p.member), []).append(i)
        members.setdefault(p.member, []).append(i)
    groups |= dict(sorted(members.items()))
    return {
        name: clustered_share([hits[i] for i in index], [positions[i].game_id for i in index])
        for name, index in groups.items()
    }


def clustered_share(hits: Sequence[float], games: Sequence[Hashable]) -> Estimate:
    """The share of hits (0/1) with a game-clustered 95% interval, kept inside [0, 1].

    CR1 (`clustered_mean`) where the hits vary. Where they do not (none or every one
    agrees), CR1 has no spread to measure and would give a zero-width interval, so the
    interval is Wilson's for as many trials as games: as if a game's positions were
    one observation, the cautious reading of "every position agreed".
    """
    estimate = clustered_mean(hits, games)
    if estimate.n == 0:
        return estimate
    if estimate.value in (0.0, 1.0):
        wilson = m.wilson(estimate.value * estimate.games, estimate.games)
        return replace(estimate, low=wilson.low, high=wilson.high)
    low = max(0.0, estimate.low) if math.isfinite(estimate.low) else estimate.low
    high = min(1.0, estimate.high) if math.isfinite(estimate.high) else estimate.high
    return replace(estimate, low=low, high=high)


def search_agreement(
    agent: StudyAgent, positions: Sequence[MemberPosition], *, batch: int = 64
) -> SearchAgreement:
    """Search every position with the agent's own noise-free search (`batch` positions per
    batched search) and compare its choice with the member's move."""
    choices = search_choices(agent, [p.position for p in positions], batch=batch)
    return SearchAgreement(
        agent.name, agent.search.simulations, agreement_estimates(choices, positions)
    )


__all__ = [
    "ALL",
    "ENGINES",
    "HEURISTICS",
    "HEURISTIC_KINDS",
    "SearchAgreement",
    "agreement_estimates",
    "clustered_share",
    "member_group",
    "member_vs_member",
    "sample_member_game_positions",
    "search_agreement",
]
