"""Heuristic crowd members: legal, sensible, exact about their distribution, and each
showing its one planted weakness in its own play."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest, Player, PlayerError
from crowdzero.players.heuristics import (
    HEURISTIC_MEMBERS,
    EarlyPasserPlayer,
    EdgeNeglectPlayer,
    GreedyPlayer,
    HeuristicPlayer,
    LadderBlindPlayer,
    LocalPlayer,
    heuristic_from_spec,
    make_heuristic,
)
from crowdzero.players.heuristics.scoring import opponent_last_move, score_moves
from crowdzero.players.heuristics.tactics import (
    BoardGroups,
    chebyshev,
    crude_estimate,
    extension_is_ladder,
    is_own_eye,
    ladder_captures,
    move_effect,
    region_owners,
)
from crowdzero.players.random import RandomNoEyePlayer
from crowdzero.players.registry import make_player

FLAWED = ("greedy", "local", "edge-neglect", "ladder-blind", "early-passer")


def play(size: int, moves: str, komi: float = 7.5) -> Position:
    """The position after GTP moves alternating from Black."""
    position = Position(Rules(size=size, komi=komi))
    for word in moves.split():
        position.play(gtp_to_point(word, size))
    return position


def random_position(size: int, moves: int, seed: int) -> Position:
    """A position after up to `moves` random non-eye-filling moves (never a finished one)."""
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=size))
    mover = RandomNoEyePlayer(seed=int(rng.integers(1 << 30)))
    for _ in range(moves):
        point = mover.select_move(MoveRequest("g", position)).point
        if point == position.pass_point:
            break
        position.play(point)
    return position


def p(word: str, size: int = 9) -> int:
    return gtp_to_point(word, size)


def play_game(black: Player, white: Player, size: int, cap: int) -> Position:
    position = Position(Rules(size=size))
    while not position.is_over and len(position.moves) < cap:
        player = black if position.to_play == BLACK else white
        position.play(player.select_move(MoveRequest("g", position)).point)
    return position


# ---------------------------------------------------------------- tactics


def test_move_effect_counts_a_capture_and_the_liberties_it_frees() -> None:
    position = play(9, "D5 E5 F5 J1 E6 J2")  # White E5 in atari at E4
    effect = move_effect(BoardGroups(position.board, 9), p("E4"), BLACK)
    assert effect.captured == 1
    assert effect.liberties == 4  # D4, F4, E3 and the freed E5


def test_move_effect_sees_self_atari() -> None:
    corner = Position.from_stones(Rules(9), black=[p("B1")], white=[p("B2"), p("C1")])
    effect = move_effect(BoardGroups(corner.board, 9), p("A1"), BLACK)
    assert effect.liberties == 1 and effect.group_size == 2 and effect.captured == 0


def test_extension_out_of_atari_counts_as_saving_the_chain() -> None:
    position = play(9, "D5 E5 F5 J1 E6")
    effect = move_effect(BoardGroups(position.board, 9), p("E4"), WHITE)
    assert effect.extends_atari and effect.saved == 1 and effect.liberties == 3


def test_working_ladder_is_read_as_captured() -> None:
    position = Position.from_stones(
        Rules(9), black=[p("D5"), p("E6"), p("F4"), p("F5")], white=[p("E5")], to_play=WHITE
    )
    assert extension_is_ladder(position.board.tolist(), 9, p("E4"), WHITE)


def test_ladder_breaker_makes_the_ladder_fail() -> None:
    position = Position.from_stones(
        Rules(9),
        black=[p("D5"), p("E6"), p("F4"), p("F5")],
        white=[p("E5"), p("C3")],
        to_play=WHITE,
    )
    assert not extension_is_ladder(position.board.tolist(), 9, p("E4"), WHITE)


def test_ladder_captures_needs_a_two_liberty_chain() -> None:
    position = Position.from_stones(Rules(9), white=[p("E5")])
    assert not ladder_captures(position.board.tolist(), 9, p("E5"))


def test_own_eye_and_false_eye() -> None:
    real = Position.from_stones(Rules(9), black=[p("A2"), p("B1")])
    assert is_own_eye(real.board.tolist(), 9, p("A1"), BLACK)
    false = Position.from_stones(Rules(9), black=[p("A2"), p("B1")], white=[p("B2")])
    assert not is_own_eye(false.board.tolist(), 9, p("A1"), BLACK)


def test_region_owner_is_the_only_colour_a_region_touches() -> None:
    position = Position.from_stones(Rules(5), black=[p("B1", 5), p("A2", 5), p("B2", 5)])
    owners, sizes = region_owners(position.board.tolist(), 5)
    assert owners[p("A1", 5)] == BLACK and sizes[p("A1", 5)] == 1
    assert owners[p("E5", 5)] == BLACK  # the rest of the board touches only Black too


def test_crude_estimate_counts_stones_and_near_points() -> None:
    board = Position.from_stones(Rules(5), black=[p("A1", 5)]).board.tolist()
    # The stone and the points within three steps of it: 1 + 2 + 3 + 4 = 10.
    assert crude_estimate(board, 5, komi=0.0) == 10.0
    assert crude_estimate(board, 5, komi=7.5) == 2.5


# ---------------------------------------------------------------- every member


@pytest.mark.parametrize("member", sorted(HEURISTIC_MEMBERS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=st.sampled_from([5, 7, 9]),
    moves=st.integers(0, 70),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_member_plays_only_legal_moves(member: str, size: int, moves: int, seed: int):
    position = random_position(size, moves, seed)
    player = make_heuristic(member, seed=seed)
    distribution = player.move_distribution(position)
    assert distribution.shape == (size * size + 1,)
    assert distribution.sum() == pytest.approx(1.0)
    assert (distribution >= 0).all()
    legal = position.legal_mask()
    assert distribution[~legal].sum() == 0.0
    for _ in range(3):
        point = player.select_move(MoveRequest("g", position)).point
        assert legal[point]


@pytest.mark.parametrize("member", FLAWED)
def test_select_move_samples_from_move_distribution(member: str) -> None:
    position = random_position(9, 30, seed=11)
    player = make_heuristic(member, seed=5)
    distribution = player.move_distribution(position)
    counts = np.zeros_like(distribution)
    draws = 1500
    for _ in range(draws):
        counts[player.select_move(MoveRequest("g", position)).point] += 1
    assert np.abs(counts / draws - distribution).max() < 0.05
    assert counts[distribution == 0].sum() == 0


def test_same_seed_same_game() -> None:
    games = [play_game(GreedyPlayer(seed=3), LocalPlayer(seed=4), 7, 200).moves for _ in range(2)]
    assert games[0] == games[1]


@pytest.mark.parametrize("member", sorted(HEURISTIC_MEMBERS))
def test_member_games_end_by_passing(member: str) -> None:
    player = make_heuristic(member, seed=1)
    position = play_game(player, player, 9, 3 * 81)
    assert position.is_over


@pytest.mark.parametrize("member", sorted(HEURISTIC_MEMBERS))
def test_members_beat_the_random_mover(member: str) -> None:
    wins = 0
    for game in range(4):
        heuristic = make_heuristic(member, seed=game)
        mover = RandomNoEyePlayer(seed=100 + game)
        colour = BLACK if game % 2 == 0 else WHITE
        black, white = (heuristic, mover) if colour == BLACK else (mover, heuristic)
        final = play_game(black, white, 7, 3 * 49)
        wins += final.winner() == colour
    assert wins >= 3


def test_finished_game_has_no_move() -> None:
    position = play(5, "pass pass")
    player = make_heuristic("plain", seed=0)
    assert not player.move_distribution(position).any()
    with pytest.raises(PlayerError, match="game is over"):
        player.select_move(MoveRequest("g", position))


def test_names_and_specs() -> None:
    assert make_heuristic("ladder-blind").name == "heuristic:ladder-blind"
    player = heuristic_from_spec("greedy:7")
    assert isinstance(player, GreedyPlayer) and player.name == "heuristic:greedy"
    with pytest.raises(ValueError, match="no heuristic member"):
        heuristic_from_spec("shy")
    with pytest.raises(ValueError, match="name a member"):
        heuristic_from_spec(None)
    with pytest.raises(ValueError, match="not an integer"):
        heuristic_from_spec("local:x")


# ---------------------------------------------------------------- the sensible core


def test_plain_player_captures_a_big_group_in_atari() -> None:
    # White's three stones C2 C3 C4 have one liberty at C1.
    position = Position.from_stones(
        Rules(5),
        black=[p(w, 5) for w in ("B2", "B3", "B4", "D2", "D3", "D4", "C5")],
        white=[p(w, 5) for w in ("C2", "C3", "C4", "E1")],
        to_play=BLACK,
    )
    distribution = HeuristicPlayer(seed=0).move_distribution(position)
    assert int(np.argmax(distribution)) == p("C1", 5)
    assert distribution[p("C1", 5)] > 0.9


def test_plain_player_saves_its_group_in_atari() -> None:
    position = play(9, "D5 E5 F5 J1 E6")
    distribution = HeuristicPlayer(seed=0).move_distribution(position)
    assert int(np.argmax(distribution)) == p("E4")


def test_plain_player_never_fills_its_own_eye() -> None:
    position = Position.from_stones(
        Rules(9), white=[p("A2"), p("B1")], black=[p("E5")], to_play=WHITE
    )
    assert HeuristicPlayer(seed=0).move_distribution(position)[p("A1")] == 0.0


def test_plain_player_passes_back_when_the_count_wins() -> None:
    # Black owns the whole 5x5 board with a living wall; White passed.
    position = Position.from_stones(
        Rules(5, komi=0.5), black=[p(f"C{r}", 5) for r in range(1, 6)], to_play=WHITE
    )
    position.play(position.pass_point)  # White passes, Black to move and winning
    distribution = HeuristicPlayer(seed=0).move_distribution(position)
    assert distribution[-1] > 0.9


# ---------------------------------------------------------------- each planted weakness

# After Black's throw-in at B1 White's chain A2 B2 C2 C1 is in atari; capturing at A1 walks
# into a snapback (Black retakes five stones at B1).
SNAPBACK = "A3 A2 B3 B2 C3 C2 D3 C1 D2 pass D1 pass B1"


def test_greedy_takes_the_snapback_bait_and_plain_does_not() -> None:
    position = play(5, SNAPBACK)
    assert GreedyPlayer(seed=0).move_distribution(position)[p("A1", 5)] == 1.0
    assert HeuristicPlayer(seed=0).move_distribution(position)[p("A1", 5)] < 0.05


@settings(max_examples=40, deadline=None)
@given(moves=st.integers(10, 80), seed=st.integers(0, 2**31 - 1))
def test_greedy_always_captures_when_a_capture_exists(moves: int, seed: int) -> None:
    position = random_position(7, moves, seed)
    groups = BoardGroups(position.board, 7)
    legal = position.legal_mask()
    captures = np.zeros(50, dtype=bool)
    for point in np.flatnonzero(legal[:49]):
        captures[point] = move_effect(groups, int(point), position.to_play).captured > 0
    distribution = GreedyPlayer(seed=seed).move_distribution(position)
    if captures.any():
        assert distribution[captures].sum() == pytest.approx(1.0)


# White's E5 is in atari (liberty E4) and Black has just played far away at B8.
TENUKI = "D5 E5 F5 J1 E6 C8 B8"


def test_local_answers_next_to_the_tenuki_instead_of_saving() -> None:
    position = play(9, TENUKI)
    local = LocalPlayer(seed=0).move_distribution(position)
    assert local[p("E4")] == 0.0
    near = [q for q in range(81) if chebyshev(q, p("B8"), 9) <= 2]
    assert local[near].sum() == pytest.approx(1.0)
    assert int(np.argmax(HeuristicPlayer(seed=0).move_distribution(position))) == p("E4")


@settings(max_examples=40, deadline=None)
@given(moves=st.integers(1, 70), seed=st.integers(0, 2**31 - 1))
def test_local_plays_away_only_when_it_has_no_sensible_local_answer(moves: int, seed: int):
    position = random_position(9, moves, seed)
    last = opponent_last_move(position)
    local = LocalPlayer(seed=seed).move_distribution(position)
    if last is None:
        return
    far = np.array([chebyshev(q, last, 9) > 2 for q in range(81)] + [True])
    if local[far].sum() > 0:
        # No sensible local point: it plays like the plain player.
        plain = HeuristicPlayer(seed=seed).move_distribution(position)
        assert np.allclose(local, plain)


# White's first-line stone E1 is in atari after D1, F1; extending at E2 would save it.
EDGE = "D1 E1 F1"


def test_edge_neglect_never_saves_a_first_line_stone() -> None:
    position = play(9, EDGE)
    assert EdgeNeglectPlayer(seed=0).move_distribution(position)[p("E2")] == 0.0
    assert int(np.argmax(HeuristicPlayer(seed=0).move_distribution(position))) == p("E2")


def test_edge_neglect_still_saves_a_second_line_stone() -> None:
    position = play(9, "D2 E2 F2 J9 E1")  # White E2 in atari; E3 gives three liberties
    distribution = EdgeNeglectPlayer(seed=0).move_distribution(position)
    assert int(np.argmax(distribution)) == p("E3")


@settings(max_examples=40, deadline=None)
@given(moves=st.integers(10, 80), seed=st.integers(0, 2**31 - 1))
def test_edge_neglect_gives_no_weight_to_first_line_rescues(moves: int, seed: int) -> None:
    position = random_position(7, moves, seed)
    groups = BoardGroups(position.board, 7)
    distribution = EdgeNeglectPlayer(seed=seed).move_distribution(position)
    for point in np.flatnonzero(position.legal_mask()[:49]):
        if move_effect(groups, int(point), position.to_play).first_line_rescue:
            assert distribution[point] == 0.0


# White's E5 has just been put in atari at F5 with a working ladder towards the lower left.
LADDER = "D5 E5 E6 pass F4 pass F5"


def test_ladder_blind_runs_out_the_ladder_and_plain_does_not() -> None:
    position = play(9, LADDER)
    assert LadderBlindPlayer(seed=0).move_distribution(position)[p("E4")] == 1.0
    assert HeuristicPlayer(seed=0).move_distribution(position)[p("E4")] < 0.05
    scores = score_moves(position)
    assert p("E4") in scores.ladder_reads


def test_everyone_extends_when_a_breaker_stops_the_ladder() -> None:
    position = play(9, "D5 E5 E6 C3 F4 pass F5")
    for player in (LadderBlindPlayer(seed=0), HeuristicPlayer(seed=0)):
        assert int(np.argmax(player.move_distribution(position))) == p("E4")


def test_early_passer_passes_when_its_count_leads() -> None:
    # Past the opening (8 moves >= 25/4), Black's C wall is nearer to ten more points.
    position = play(5, "C1 E1 C2 E2 C3 E3 C4 E4", komi=0.5)
    assert crude_estimate(position.board.tolist(), 5, 0.5) >= 3.0
    assert EarlyPasserPlayer(seed=0).move_distribution(position)[-1] == 1.0
    assert HeuristicPlayer(seed=0).move_distribution(position)[-1] < 0.05


def test_early_passer_does_not_pass_in_the_opening() -> None:
    # White leads by komi on the empty board, but the opening is not over.
    position = play(9, "E5")
    assert EarlyPasserPlayer(seed=0).move_distribution(position)[-1] < 0.05


@pytest.mark.parametrize("member", FLAWED)
def test_registry_builds_each_member(member: str) -> None:
    player = make_player(f"heuristic:{member}:3")
    assert isinstance(player, HEURISTIC_MEMBERS[member])
    assert player.name == f"heuristic:{member}"
