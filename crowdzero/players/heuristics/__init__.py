"""Human-like heuristic crowd members, each with one planted, documented weakness.

All share the sensible core in `scoring` (capture, save, avoid self-atari, keep eyes,
opening lines, answer locally, soft-max with a temperature); each module next to it adds
one systematic flaw that a clever opponent can exploit and that `crowdzero.players.flaws`
can detect in a finished game.

| member | weakness |
| --- | --- |
| `heuristic:plain` | none (the control) |
| `heuristic:greedy` | always captures when it can |
| `heuristic:local` | always answers within two lines of the opponent's last move |
| `heuristic:edge-neglect` | never saves its own first-line group in atari |
| `heuristic:ladder-blind` | always extends a group in atari, even in a working ladder |
| `heuristic:early-passer` | passes as soon as a crude count says it is ahead |
"""

from __future__ import annotations

from crowdzero.players.heuristics.early_passer import EarlyPasserPlayer
from crowdzero.players.heuristics.edge_neglect import EdgeNeglectPlayer
from crowdzero.players.heuristics.greedy import GreedyPlayer
from crowdzero.players.heuristics.ladder_blind import LadderBlindPlayer
from crowdzero.players.heuristics.local import LocalPlayer
from crowdzero.players.heuristics.scoring import HeuristicPlayer, Weights

HEURISTIC_MEMBERS: dict[str, type[HeuristicPlayer]] = {
    cls.member: cls
    for cls in (
        HeuristicPlayer,
        GreedyPlayer,
        LocalPlayer,
        EdgeNeglectPlayer,
        LadderBlindPlayer,
        EarlyPasserPlayer,
    )
}


def make_heuristic(
    member: str, seed: int | None = None, temperature: float = 0.5
) -> HeuristicPlayer:
    """The heuristic player called `member` ("greedy", "local", ...); ValueError if unknown."""
    try:
        cls = HEURISTIC_MEMBERS[member]
    except KeyError:
        known = ", ".join(sorted(HEURISTIC_MEMBERS))
        raise ValueError(f"no heuristic member {member!r}; known: {known}") from None
    return cls(seed=seed, temperature=temperature)


def heuristic_from_spec(argument: str | None) -> HeuristicPlayer:
    """The player for a registry spec ``heuristic:MEMBER[:SEED]`` given ``MEMBER[:SEED]``."""
    if not argument:
        known = ", ".join(sorted(HEURISTIC_MEMBERS))
        raise ValueError(f"name a member after 'heuristic:' (one of {known})")
    member, _, seed_text = argument.partition(":")
    seed: int | None = None
    if seed_text:
        try:
            seed = int(seed_text)
        except ValueError:
            raise ValueError(f"seed {seed_text!r} is not an integer") from None
    return make_heuristic(member.strip(), seed=seed)


__all__ = [
    "HEURISTIC_MEMBERS",
    "EarlyPasserPlayer",
    "EdgeNeglectPlayer",
    "GreedyPlayer",
    "HeuristicPlayer",
    "LadderBlindPlayer",
    "LocalPlayer",
    "Weights",
    "heuristic_from_spec",
    "make_heuristic",
]
