"""Exploitation on flawed twins, the out-of-the-box pattern and the primary claims'
verdicts, on game records with known answers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from test_flaws import game_of

import crowdzero.players
from crowdzero.analysis.inference import Verdict
from crowdzero.analysis.study.curves import flaw_gaps
from crowdzero.analysis.study.twins import (
    PrimaryClaim,
    TwinError,
    consistency_claim,
    decide_primary,
    exploitation,
    members_showing,
    more_often,
    pattern_games,
    pooled_exploitation,
    scores,
    twin_pairs,
    value_consistency,
)
from crowdzero.go.position import Rules
from crowdzero.play.record import Game
from crowdzero.players.crowd import Crowd
from crowdzero.players.flawed import early_passes

FLAWED = "flawed:pass-back:gnugo:3"
TWIN = "gnugo:3"


def result(black: str, white: str, winner: int) -> Game:
    """A game record that only says who played and who won."""
    return Game(
        rules=Rules(size=7),
        black=black,
        white=white,
        moves=(),
        result="B+R" if winner == 1 else "W+R",
        winner=winner,
        date="2026-12-02",
    )


def match(agent: str, opponent: str, wins: int, games: int) -> list[Game]:
    """`games` games, colours alternating, `agent` winning the first `wins`."""
    out = []
    for k in range(games):
        agent_black = k % 2 == 0
        agent_colour = 1 if agent_black else -1
        winner = agent_colour if k < wins else -agent_colour
        out.append(
            result(agent, opponent, winner) if agent_black else result(opponent, agent, winner)
        )
    return out


def test_twin_pairs_need_the_twin_held_out_and_out_of_the_crowd() -> None:
    pairs = twin_pairs(["random", FLAWED], held_out=[TWIN, "gnugo:5"])
    assert [(p.flawed, p.twin, p.flaw.name) for p in pairs] == [(FLAWED, TWIN, "pass-back")]
    with pytest.raises(TwinError, match="is a crowd member"):
        twin_pairs([FLAWED, TWIN], held_out=[])
    with pytest.raises(TwinError, match="not in \\[study\\] held_out"):
        twin_pairs([FLAWED], held_out=["gnugo:5"])


def test_scores_read_either_seat() -> None:
    games = match("crowd", TWIN, 3, 4)
    assert scores(games, "crowd", TWIN) == [1.0, 1.0, 1.0, 0.0]
    assert scores(games, TWIN, "crowd") == [0.0, 0.0, 0.0, 1.0]


def test_exploitation_is_the_difference_in_differences_of_the_four_cells() -> None:
    (pair,) = twin_pairs([FLAWED], [TWIN])
    games = (
        match("crowd", FLAWED, 80, 100)
        + match("crowd", TWIN, 50, 100)
        + match("self", FLAWED, 55, 100)
        + match("self", TWIN, 50, 100)
    )
    found = exploitation(games, "crowd", "self", pair)
    assert found.contrast.value == pytest.approx(0.25)
    assert found.contrast.p_value < 0.01
    assert found.agent_trigger_rate == 0.0  # no moves, so the flaw never showed
    pooled = pooled_exploitation([found, found])
    assert pooled.value == pytest.approx(0.25)
    assert pooled.estimate.se == pytest.approx(found.contrast.estimate.se / math.sqrt(2))


def test_a_curve_point_gap_is_the_score_against_the_flawed_member_minus_its_twin() -> None:
    by_opponent = {FLAWED: match("crowd", FLAWED, 80, 100), TWIN: match("crowd", TWIN, 50, 100)}
    gaps, pooled = flaw_gaps(by_opponent, "crowd", {FLAWED: TWIN})
    assert gaps[FLAWED].value == pytest.approx(0.30)
    assert gaps[FLAWED].low < 0.30 < gaps[FLAWED].high and gaps[FLAWED].n == 200
    # One pair: the pooled gap is that pair's, its interval the normal one of that width.
    assert pooled is not None and (pooled.value, pooled.se) == (gaps[FLAWED].value, gaps[FLAWED].se)
    # All lost against both: no difference, and still an interval as wide as 20 games allow
    # (a normal interval would be [0, 0]).
    none, _ = flaw_gaps(
        {FLAWED: match("crowd", FLAWED, 0, 20), TWIN: match("crowd", TWIN, 0, 20)},
        "crowd",
        {FLAWED: TWIN},
    )
    assert none[FLAWED].value == 0.0 and none[FLAWED].high == pytest.approx(0.161, abs=1e-3)
    # A pair without games against both twins is left out, not counted as 0.
    assert flaw_gaps({FLAWED: by_opponent[FLAWED]}, "crowd", {FLAWED: TWIN}) == ({}, None)


def test_an_early_pass_is_a_pattern_members_do_not_show() -> None:
    exploit = game_of(7, "D4 C3 E5 pass pass", komi=7.5, finish=False)
    exploit = Game(**{**exploit.__dict__, "black": FLAWED, "white": "agent"})
    ordinary = game_of(7, "D4 C3 E5 C4 D5 C5 E4 B4 D3 C2 E3 B3 pass pass", komi=7.5, finish=False)
    ordinary = Game(**{**ordinary.__dict__, "black": TWIN, "white": "random"})
    assert pattern_games([exploit, ordinary], "agent", early_passes) == (1, 1)
    assert members_showing([exploit, ordinary], [TWIN, "random"], early_passes) == {
        TWIN: (0, 1),
        "random": (0, 1),
    }
    assert more_often((9, 10), (1, 10)) < 0.01 < 0.5 < more_often((1, 10), (9, 10))


def test_a_value_head_that_agrees_with_itself_across_its_move_scores_zero() -> None:
    consistent = value_consistency(["g1", "g1", "g2"], [0.2, -0.4, 0.0], [-0.2, 0.4, 0.0])
    assert consistent.value == pytest.approx(0.0)
    drifting = value_consistency(["g1", "g2"], [0.6, 0.6], [0.6, 0.6])
    assert drifting.value == pytest.approx(0.6)  # P 0.8 before, 0.2 after


def test_claim_5_compares_the_two_value_heads_gaps_with_their_variances_added() -> None:
    steady = value_consistency(list(range(40)), [0.0] * 40, [0.0] * 20 + [0.1] * 20)
    drifting = value_consistency(list(range(40)), [0.5] * 40, [0.3] * 20 + [0.5] * 20)
    claim = consistency_claim(drifting, steady)
    assert claim.name == "claim 5" and claim.games == 40
    assert claim.value == pytest.approx(drifting.value - steady.value) and claim.value > 0
    z = claim.value / math.sqrt(drifting.se**2 + steady.se**2)
    assert claim.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert decide_primary([claim])[0].verdict == Verdict.SUPPORTED
    assert consistency_claim(steady, drifting).value < 0
    one_game = value_consistency(["g"], [0.5], [0.3])
    assert math.isnan(consistency_claim(one_game, steady).p_value)


def test_primary_claims_are_adjusted_together_and_small_samples_get_no_verdict() -> None:
    claims = [
        PrimaryClaim("a", "", 0.2, 0.001, 100),
        PrimaryClaim("b", "", 0.1, 0.02, 100),
        PrimaryClaim("c", "", -0.1, 0.004, 100),
        PrimaryClaim("d", "", 0.3, 0.0001, 12),
        PrimaryClaim("e", "", 0.05, 0.3, 100),
    ]
    decided = decide_primary(claims)
    assert [d.adjusted_p for d in decided] == pytest.approx([0.004, 0.04, 0.012, 0.0005, 0.3])
    assert [d.verdict for d in decided] == [
        Verdict.SUPPORTED,
        Verdict.SUPPORTED,
        Verdict.CONTRADICTED,
        Verdict.TOO_FEW_GAMES,
        Verdict.NOT_SUPPORTED,
    ]


def test_the_packaged_twin_crowd_holds_every_twin_out() -> None:
    path = Path(crowdzero.players.__file__).parent / "twin_crowd.toml"
    crowd = Crowd.load(path, build_players=False, board_size=7)
    pairs = twin_pairs([m.spec for m in crowd.members], crowd.held_out)
    assert {p.twin for p in pairs} == {"gnugo:3", "gnugo:0", "heuristic:plain"}
    assert all(m.name == m.spec for m in crowd.members if m.spec.startswith("flawed:"))
