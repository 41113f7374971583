"""Top-1 agreement of an agent's real search with crowd members, on recorded
member-vs-member games (tests/data/twin_games_7x7.jsonl.gz) no agent played."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_run import TINY_RUN

from crowdzero.analysis.study.agreement import (
    ALL,
    ENGINES,
    HEURISTICS,
    agreement_estimates,
    member_group,
    member_vs_member,
    sample_member_game_positions,
    search_agreement,
)
from crowdzero.analysis.study.collect import (
    MemberPosition,
    load_study_agent,
    raw_outputs,
    search_choices,
)
from crowdzero.analysis.study.metrics import wilson
from crowdzero.analysis.study.twin_report import read_games
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import save_checkpoint
from crowdzero.net.model import PolicyValueNet
from crowdzero.play.player import MoveRequest
from crowdzero.play.record import Game
from crowdzero.train.config import RunConfig, apply_overrides

DATA = Path(__file__).parent / "data" / "twin_games_7x7.jsonl.gz"
MEMBERS = ("random", "heuristic:plain", "heuristic:greedy", "mcts:100", "gnugo:0", "gnugo:3")


@pytest.fixture(scope="module")
def recorded() -> list[Game]:
    return read_games(DATA)


def test_heuristic_members_and_engines_are_told_apart_through_their_flaws() -> None:
    assert member_group("random-noeye") == HEURISTICS
    assert member_group("heuristic:greedy") == HEURISTICS
    assert member_group("flawed:ladder-runner:heuristic:plain") == HEURISTICS
    assert member_group("gnugo:0") == ENGINES
    assert member_group("mcts:400") == ENGINES
    assert member_group("flawed:pass-back:gnugo:3") == ENGINES


def test_only_games_between_two_members_give_positions(recorded: list[Game]) -> None:
    inside = member_vs_member(recorded, MEMBERS)
    assert inside and all(g.black in MEMBERS and g.white in MEMBERS for g in inside)
    # The exploit set has an exploiting player in one seat: never a member position.
    assert any(g.black.startswith("exploit:") for g in recorded)
    assert not any("exploit:" in g.black + g.white for g in inside)
    positions = sample_member_game_positions(inside, 60, seed=3, per_game=2)
    assert len(positions) == 60
    per_game: dict[int, int] = {}
    for p in positions:
        per_game[p.game_id] = per_game.get(p.game_id, 0) + 1
        game = inside[p.game_id]
        assert game.moves[p.ply].point == p.move and p.member == game.player(p.position.to_play)
        assert p.position.legal_mask()[p.move]
    assert max(per_game.values()) <= 2


def test_agreement_is_clustered_by_game_per_member_and_group() -> None:
    empty = Position(Rules(size=5))
    # Game 0 (gnugo) always agrees, game 1 (random) never: 2 games, 4 positions.
    positions = [
        MemberPosition(0, 0, "gnugo:0", empty, 3),
        MemberPosition(0, 2, "gnugo:0", empty, 4),
        MemberPosition(1, 1, "random", empty, 5),
        MemberPosition(1, 3, "random", empty, 6),
    ]
    estimates = agreement_estimates([3, 4, 0, 0], positions)
    assert list(estimates)[:3] == [ALL, ENGINES, HEURISTICS]
    assert estimates[ALL].value == 0.5 and estimates[ALL].n == 4 and estimates[ALL].games == 2
    assert estimates[ENGINES].value == 1.0 and estimates["random"].value == 0.0
    # Every position of a group agreed (or none did): no zero-width interval, but
    # Wilson's over its games, as if each game were one observation.
    assert estimates[ENGINES].games == 1 and estimates[ENGINES].high == 1.0
    assert estimates[ENGINES].low == pytest.approx(wilson(1, 1).low)
    assert estimates["random"].low == 0.0 and estimates["random"].high == wilson(0, 1).high
    # Where hits vary the interval is CR1's, kept inside [0, 1].
    assert 0.0 <= estimates[ALL].low < 0.5 < estimates[ALL].high <= 1.0
    assert estimates[ALL].se > 0


def test_search_agreement_uses_the_agents_own_search_in_batches(
    recorded: list[Game], tmp_path: Path
) -> None:
    cfg = apply_overrides(RunConfig(), {**TINY_RUN, "board.size": 7})
    path = tmp_path / "ckpt-00000003.pt"
    save_checkpoint(path, PolicyValueNet(cfg.net), step=3)
    positions = sample_member_game_positions(member_vs_member(recorded, MEMBERS), 40, seed=1)
    agent = load_study_agent("crowd", path, cfg.search, threads=1, seed=5)
    twin = load_study_agent("crowd", path, cfg.search, threads=1, seed=5)
    try:
        result = search_agreement(agent, positions, batch=16)
        choices = search_choices(twin, [p.position for p in positions], batch=16)
        policies, _ = raw_outputs(twin.evaluator, [p.position for p in positions])
    finally:
        agent.close()
        twin.close()
    assert result.agent == "crowd-agent@3" and result.simulations == cfg.search.simulations
    # The search, not the raw network: its choices differ from the policy's argmax.
    assert choices != [int(np.argmax(row)) for row in policies]
    hits = sum(c == p.move for c, p in zip(choices, positions, strict=True))
    assert result.by_group[ALL].value == pytest.approx(hits / len(positions))
    assert result.by_group[ALL].n == 40
    assert result.by_group[HEURISTICS].n + result.by_group[ENGINES].n == 40
    assert result.by_group[ALL].games == len({p.game_id for p in positions})
    assert set(result.by_group) >= {p.member for p in positions}


def test_search_choices_do_not_depend_on_the_games_played_before(
    recorded: list[Game], tmp_path: Path
) -> None:
    """The study measures agreement after its games; a recomputation from the shipped
    games (scripts/reproduce_study.py) plays none. Both must search alike."""
    cfg = apply_overrides(RunConfig(), {**TINY_RUN, "board.size": 7})
    path = tmp_path / "ckpt-00000003.pt"
    torch.manual_seed(3)
    save_checkpoint(path, PolicyValueNet(cfg.net), step=3)
    positions = [
        p.position
        for p in sample_member_game_positions(member_vs_member(recorded, MEMBERS), 40, seed=2)
    ]
    fresh = load_study_agent("crowd", path, cfg.search, threads=1, seed=5)
    played = load_study_agent("crowd", path, cfg.search, threads=1, seed=5)
    try:
        first = search_choices(fresh, positions, batch=16)
        for k in range(3):  # moves of other games: the random state moves on
            requests = [MoveRequest(f"game-{k}-{i}", p) for i, p in enumerate(positions[:8])]
            played.player.select_moves(requests)
        assert search_choices(played, positions, batch=16) == first
        assert search_choices(fresh, positions, batch=16) == first  # and when asked twice
    finally:
        fresh.close()
        played.close()
