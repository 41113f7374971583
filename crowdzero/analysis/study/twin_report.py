"""Recompute the twin exploitation tables and primary claims 1-4 from a study store.

The study (`crowdzero study ... --crowd-file crowdzero/players/twin_crowd.toml`, or any
crowd with flawed members and their twins held out) plays every agent against every
crowd member and every held-out opponent, so its ``OUT/games.sqlite`` already holds the
four cells of each difference in differences. This command reads that file (shipped,
compressed, in ``docs/results/study-*/``) and nothing else, so anyone can recompute the
numbers::

    python -m crowdzero.analysis.study.twin_report OUT/games.sqlite \\
        --crowd crowdzero/players/twin_crowd.toml [--members MEMBERS.sqlite] \\
        [--json OUT/twins.json]

``--members`` holds member-vs-member games (a store, or the ``.jsonl.gz`` that
`scripts/record_twin_games.py --members SPEC,SPEC,...` writes) in which the
out-of-the-box pattern is counted; without it claim 3 is reported without its "absent from the crowd" half.
``--training`` holds the crowd run's own store (``runs/NAME/games.sqlite``): the report
then adds, exploratory, how often the training agent made the pass-back exploit in each
stretch of its training games (`exploit_in_training`), which tells an exploit never
found from one found and dropped.
Claim 5 (value consistency) needs the networks, not only the games: the study's own
`measure` stage computes it and judges all five together (``primary`` in results.json).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crowdzero.analysis.inference import cochran_mantel_haenszel, win_loss_table
from crowdzero.analysis.study.twins import (
    Decision,
    Exploitation,
    PrimaryClaim,
    TwinPair,
    decide_primary,
    exploitation,
    members_showing,
    more_often,
    pattern_games,
    pooled_exploitation,
    scores,
    twin_pairs,
)
from crowdzero.play.record import Game
from crowdzero.play.sgf import sgf_to_game
from crowdzero.players.crowd import Crowd
from crowdzero.players.flawed import detect_pass_back, early_passes
from crowdzero.store.game_store import GameStore

AGENT_LABEL = re.compile(r"^(?P<label>[a-z-]+)-agent@(?P<step>\d+)$")


def newest_agents(games: Sequence[Game]) -> dict[str, str]:
    """label -> the newest ``LABEL-agent@STEP`` name in the games (the study's naming)."""
    newest: dict[str, tuple[int, str]] = {}
    for game in games:
        for name in (game.black, game.white):
            match = AGENT_LABEL.match(name)
            if match is None:
                continue
            step = int(match["step"])
            label = match["label"]
            if label not in newest or step > newest[label][0]:
                newest[label] = (step, name)
    return {label: name for label, (_, name) in newest.items()}


@dataclass(frozen=True)
class TwinEvidence:
    """Claims 1-4 of docs/study.md as measured from the games, not yet judged: the
    study's `measure` adds claim 5 and `compare` judges all five together."""

    agents: dict[str, str]
    exploitation: list[dict[str, Any]]
    early_passes: dict[str, tuple[int, int]]
    members_early_passes: dict[str, tuple[int, int]] | None
    claims: list[PrimaryClaim]


@dataclass(frozen=True)
class TwinReport:
    agents: dict[str, str]
    exploitation: list[dict[str, Any]]
    early_passes: dict[str, tuple[int, int]]
    members_early_passes: dict[str, tuple[int, int]] | None
    decisions: list[Decision]
    #: Exploratory: `exploit_in_training` over the crowd run's store (with --training).
    training_exploit: list[dict[str, int]] | None = None


#: The name a training run's store gives its agent (`GameStore`, crowd mode).
TRAINING_AGENT = "agent"


def exploit_in_training(
    games: Sequence[Game], flawed: Sequence[str], stretches: int = 4, agent: str = TRAINING_AGENT
) -> list[dict[str, int]]:
    """The pass-back exploit in a crowd run's training games, stretch by stretch (the
    agent's games in store order, cut into `stretches` equal parts): the agent's games
    and those with an early pass (`early_passes`); its games against the `flawed`
    pass-back members, those with an early pass, and those the member lost by its
    pass-back (`detect_pass_back`, the exploit paying off).

    The study's claim 3 counts the exploit in the final agent's games; this says whether
    training ever found it, and whether it kept it. Self-play seats (both "agent") are
    skipped: there is no member to exploit.
    """
    if stretches < 1:
        raise ValueError(f"stretches must be at least 1, not {stretches}")
    targets = set(flawed)
    mine = [g for g in games if (g.black == agent) != (g.white == agent)]
    rows: list[dict[str, int]] = []
    for k in range(stretches):
        part = mine[k * len(mine) // stretches : (k + 1) * len(mine) // stretches]
        row = {"first_game": k * len(mine) // stretches, "games": len(part), "early_pass": 0}
        row |= {"against_flawed": 0, "against_flawed_early_pass": 0, "exploit_won": 0}
        for game in part:
            colour = game.colour_of(agent)
            opponent = game.player(-colour)
            passed = bool(early_passes(game, colour))
            row["early_pass"] += passed
            if opponent in targets:
                row["against_flawed"] += 1
                row["against_flawed_early_pass"] += passed
                row["exploit_won"] += detect_pass_back(game, -colour).triggered
        rows.append(row)
    return rows


def _row(result: Exploitation) -> dict[str, Any]:
    e = result.contrast.estimate
    return {
        "flawed": result.pair.flawed,
        "twin": result.pair.twin,
        "agent": result.agent,
        "control": result.control,
        "did": e.value,
        "low": e.low,
        "high": e.high,
        "p": result.contrast.p_value,
        "games": e.games,
        "agent_trigger_rate": result.agent_trigger_rate,
        "control_trigger_rate": result.control_trigger_rate,
    }


def _pass_back(pairs: Sequence[TwinPair]) -> list[str]:
    """The flawed members whose flaw is pass-back (claim 3's and the training count's)."""
    return [p.flawed for p in pairs if p.flaw.name == "pass-back"]


def build_report(
    games: Sequence[Game],
    member_specs: Sequence[str],
    held_out: Sequence[str],
    member_games: Sequence[Game] | None = None,
    training_games: Sequence[Game] | None = None,
) -> TwinReport:
    """Claims 1-4 of docs/study.md from the study's games (see the module doc), judged
    together (Holm, then the verdict rule); with `training_games` (the crowd run's
    store) also the exploit over training (exploratory)."""
    found = twin_claims(games, member_specs, held_out, member_games)
    training = None
    if training_games is not None:
        training = exploit_in_training(
            training_games, _pass_back(twin_pairs(member_specs, held_out))
        )
    return TwinReport(
        found.agents,
        found.exploitation,
        found.early_passes,
        found.members_early_passes,
        decide_primary(found.claims),
        training,
    )


def twin_claims(
    games: Sequence[Game],
    member_specs: Sequence[str],
    held_out: Sequence[str],
    member_games: Sequence[Game] | None = None,
) -> TwinEvidence:
    """Claims 1-4 and what they rest on, measured from the study's games; the agents are
    the newest ``LABEL-agent@STEP`` of each label in `games`."""
    agents = newest_agents(games)
    pairs = twin_pairs(member_specs, held_out)
    crowd = agents.get("crowd")
    claims: list[PrimaryClaim] = []
    rows: list[dict[str, Any]] = []
    for number, control_label in ((1, "self"), (2, "imitation")):
        control = agents.get(control_label)
        if crowd is None or control is None or not pairs:
            claims.append(PrimaryClaim(f"claim {number}", "no games", math.nan, math.nan, 0))
            continue
        results = [exploitation(games, crowd, control, pair) for pair in pairs]
        rows += [_row(r) for r in results]
        pooled = pooled_exploitation(results)
        claims.append(
            PrimaryClaim(
                f"claim {number}",
                f"crowd exploits the planted flaws more than {control_label} (pooled DiD)",
                pooled.value,
                pooled.p_value,
                pooled.estimate.games,
            )
        )
    pass_back = _pass_back(pairs)
    shown: dict[str, tuple[int, int]] = {}
    for label, name in agents.items():
        against = [g for g in games if {g.black, g.white} & set(pass_back)]
        shown[label] = pattern_games(against, name, early_passes)
    crowd_shown, self_shown = shown.get("crowd", (0, 0)), shown.get("self", (0, 0))
    games_3 = min(crowd_shown[1], self_shown[1])
    p3 = more_often(crowd_shown, self_shown) if games_3 else math.nan
    rate = (crowd_shown[0] / crowd_shown[1] if crowd_shown[1] else 0.0) - (
        self_shown[0] / self_shown[1] if self_shown[1] else 0.0
    )
    claims.append(
        PrimaryClaim("claim 3", "crowd makes the pass-back exploit more often", rate, p3, games_3)
    )
    claims.append(_stratified_claim(games, agents, member_specs))
    members = None
    if member_games is not None:
        members = members_showing(member_games, member_specs, early_passes)
    return TwinEvidence(agents, rows, shown, members, claims)


def _stratified_claim(
    games: Sequence[Game], agents: dict[str, str], members: Sequence[str]
) -> PrimaryClaim:
    crowd, control = agents.get("crowd"), agents.get("self")
    if crowd is None or control is None:
        return PrimaryClaim("claim 4", "no games", math.nan, math.nan, 0)
    tables, fewest = [], None
    total_crowd = total_self = 0.0
    n_crowd = n_self = 0
    for member in members:
        a, b = scores(games, crowd, member), scores(games, control, member)
        if not a or not b:
            continue
        tables.append(win_loss_table(a, b))
        total_crowd, total_self = total_crowd + sum(a), total_self + sum(b)
        n_crowd, n_self = n_crowd + len(a), n_self + len(b)
        fewest = min(len(a), len(b)) if fewest is None else min(fewest, len(a), len(b))
    if not tables:
        return PrimaryClaim("claim 4", "no games", math.nan, math.nan, 0)
    test = cochran_mantel_haenszel(tables)
    odds = test.odds_ratio
    # The claim's sign: the log common odds ratio (+-1 where every game went one way).
    value = math.log(odds) if 0 < odds < math.inf else {0.0: -1.0, math.inf: 1.0}.get(odds, odds)
    return PrimaryClaim(
        "claim 4",
        f"crowd scores better than self against the crowd (CMH over {test.informative} "
        f"informative members; crowd {total_crowd / n_crowd:.3f}, self {total_self / n_self:.3f})",
        value,
        test.p_value,
        fewest or 0,
    )


def read_games(path: Path) -> list[Game]:
    """Every game in a GameStore file, or in a ``.jsonl.gz`` of ``{"sgf": ...}`` rows (the
    format `scripts/record_twin_games.py` writes)."""
    if path.name.endswith(".jsonl.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as handle:
            return [
                sgf_to_game(json.loads(line)["sgf"].encode()) for line in handle if line.strip()
            ]
    with GameStore(path) as store:
        return [game for _, game in store.iter_games()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("store", type=Path, help="the study's games.sqlite")
    parser.add_argument("--crowd", required=True, help="the crowd file the study used")
    parser.add_argument(
        "--members", type=Path, help="member-vs-member games (.sqlite or .jsonl.gz)"
    )
    parser.add_argument(
        "--training", type=Path, help="the crowd run's games.sqlite: the exploit over training"
    )
    parser.add_argument("--json", type=Path, help="write the report here as JSON")
    args = parser.parse_args(argv)
    with Crowd.load(args.crowd, build_players=False) as crowd:
        specs = [m.spec for m in crowd.members]
        held = list(crowd.held_out)
    report = build_report(
        read_games(args.store),
        specs,
        held,
        read_games(args.members) if args.members else None,
        read_games(args.training) if args.training else None,
    )
    for row in report.exploitation:
        print(
            f"{row['flawed']:40} {row['agent']} - {row['control']}: DiD {row['did']:+.3f} "
            f"[{row['low']:+.3f}, {row['high']:+.3f}] p={row['p']:.3g} ({row['games']} games)"
        )
    for row in report.training_exploit or ():
        print(
            f"training games {row['first_game']}+: early pass in {row['early_pass']} of "
            f"{row['games']}; against pass-back {row['against_flawed_early_pass']} of "
            f"{row['against_flawed']}, won by the exploit {row['exploit_won']}"
        )
    for decision in report.decisions:
        c = decision.claim
        print(f"{c.name}: {decision.verdict} (adjusted p {decision.adjusted_p:.3g}) {c.text}")
    if args.json is not None:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
