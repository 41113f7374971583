"""Flawed twins: the spec, the wrapper, and the detectors held to their rates on real
recorded games (`scripts/record_twin_games.py`, 7x7 and 9x9: random movers, heuristics,
plain MCTS and GnuGo 0 and 3 in a round robin; GnuGo 0 with each flaw and without it
against a player that knows the flaw).

Two recordings a size: ``twin_games_NxN`` is the set the detectors were designed on,
``twin_games_NxN_heldout`` (other GnuGo seeds, ladder-runner only) was recorded after the
ladder-runner detector was fixed and checks it on games it was not shaped by."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_flaws import game_of

import crowdzero.players
from crowdzero.analysis.arena import play_match
from crowdzero.analysis.study.twins import members_showing
from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.player import MoveRequest
from crowdzero.play.record import Game
from crowdzero.play.sgf import sgf_to_game
from crowdzero.players.crowd import Crowd
from crowdzero.players.flawed import (
    FLAWS,
    ExploitingPlayer,
    FlawedPlayer,
    detect_ladder_runner,
    detect_pass_back,
    early_passes,
    flaw_of,
    ladder_runner_move,
    ladder_runs,
    result_margin,
    twin_of,
)
from crowdzero.players.heuristics.tactics import BoardGroups
from crowdzero.players.registry import check_player_spec, make_player
from crowdzero.players.spec import PlayerSpecError

FALSE_FIRE_LIMIT = 0.05
SIZES = pytest.mark.parametrize("size", [7, 9])
RECORDINGS = pytest.mark.parametrize(
    ("size", "held_out"), [(7, False), (9, False), (7, True), (9, True)]
)
LADDER_FLAWED = "flawed:ladder-runner:gnugo:0"
LADDER_EXPLOITER = "exploit:ladder-runner:gnugo:0"


def recorded(kind: str, size: int, held_out: bool = False, suffix: str = "") -> list[Game]:
    suffix = "_heldout" if held_out else suffix
    path = Path(__file__).parent / "data" / f"twin_games_{size}x{size}{suffix}.jsonl.gz"
    with gzip.open(path, "rt") as handle:
        rows = [json.loads(line) for line in handle]
    return [sgf_to_game(row["sgf"].encode()) for row in rows if row["set"] == kind]


def position_after(size: int, moves: str) -> Position:
    position = Position(Rules(size=size, komi=0.5))
    for word in moves.split():
        position.play(gtp_to_point(word, size))
    return position


@pytest.mark.parametrize(
    "spec", ["flawed:pass-back:random", "flawed:ladder-runner:heuristic:plain:3"]
)
def test_a_flawed_spec_builds_the_inner_player_with_the_flaw(spec: str) -> None:
    player = make_player(spec)
    assert isinstance(player, FlawedPlayer)
    assert player.name == spec
    assert flaw_of(spec) is player.flaw
    assert twin_of(spec) == spec.split(":", 2)[2]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("flawed", "known flaw"),
        ("flawed:sloppy:gnugo:3", "known flaw"),
        ("flawed:pass-back", "player to plant it in"),
        ("flawed:pass-back:flawed:ladder-runner:random", "one flaw per member"),
        ("flawed:pass-back:gnugo:11", "gnugo level"),
        ("flawed:pass-back:nobody", "unknown player"),
    ],
)
def test_bad_flawed_specs_are_refused_with_a_reason(spec: str, message: str) -> None:
    with pytest.raises(PlayerSpecError, match=message):
        check_player_spec(spec, 9)


def test_pass_back_passes_after_an_early_pass_and_otherwise_asks_the_twin() -> None:
    player = make_player("flawed:pass-back:random:1")
    passed = position_after(7, "D4 pass")
    assert player.select_move(MoveRequest("g", passed)).point == passed.pass_point
    distribution = player.move_distribution(passed)
    assert distribution is not None and distribution[passed.pass_point] == 1.0
    quiet = position_after(7, "D4 C3")
    assert player.select_move(MoveRequest("g", quiet)).point != quiet.pass_point
    twin = make_player("random:1")
    flawed_choice, twin_choice = player.move_distribution(quiet), twin.move_distribution(quiet)
    assert flawed_choice is not None and twin_choice is not None
    assert np.array_equal(flawed_choice, twin_choice)


def test_pass_back_leaves_late_passes_to_the_twin() -> None:
    moves = "A1 G7 A2 G6 A3 G5 A4 G4 A5 G3 A6 G2 A7 pass"
    late = position_after(7, moves)
    assert FLAWS["pass-back"].flawed_move(late) is None


# Black's C3 is in atari (White B3, C2, D3); extending at C4 leaves two liberties in a
# working ladder that runs up and right to the top edge of the 7x7 board.
LADDER = "C3 B3 pass C2 pass B4 pass D3"
RUN = " C4 C5 D4 E4 D5 D6 E5 F5 E6 F6 E7 D7 pass F7"
# A ladder that ends at once: Black B2 is put in atari at A2 beside White's wall on the C
# line; B1 runs (two liberties, A1 and C1), C1 ataris again, A1 would be suicide, so
# Black meets the ladder once and loses two stones. Black's wall on the D line makes
# the area 28 to 21, and komi sets the margin.
EDGE = "B2 B3 D1 C2 D2 C3 D3 C4 D4 C5 D5 C6 D6 C7 D7 A2 B1 C1 pass A1"


def test_ladder_runner_extends_into_the_working_ladder() -> None:
    position = position_after(7, LADDER)
    assert ladder_runner_move(position) == gtp_to_point("C4", 7)
    flawed = make_player("flawed:ladder-runner:random:2")
    assert flawed.select_move(MoveRequest("g", position)).point == gtp_to_point("C4", 7)


def test_running_every_ladder_met_then_captured_in_a_lost_game_is_detected() -> None:
    run = game_of(7, LADDER + RUN, finish=False)
    read = ladder_runs(run, BLACK)
    assert read.met == len(read.runs) == 6 and read.stones_lost == 7
    report = detect_ladder_runner(run, BLACK)
    assert report.triggered and report.plies[0] == 8
    assert not detect_ladder_runner(run, WHITE).triggered


def test_declining_a_working_ladder_clears_the_member() -> None:
    """Two runs, then a pass where the ladder could be run again: not the flaw's habit."""
    declined = game_of(7, LADDER + " C4 C5 D4 E4 pass D5", finish=False)
    read = ladder_runs(declined, BLACK)
    assert (read.met, len(read.runs), len(read.captured)) == (3, 2, 2)
    assert not detect_ladder_runner(declined, BLACK).triggered


@pytest.mark.parametrize(("komi", "fires"), [(7.5, True), (11.5, False)])
def test_a_single_run_counts_when_its_stones_cover_the_margin(komi: float, fires: bool) -> None:
    """Two stones lost move the area count by 4: a loss by 0.5 is theirs, by 4.5 is not."""
    game = game_of(7, EDGE, komi=komi)
    read = ladder_runs(game, BLACK)
    assert (read.met, read.runs, read.stones_lost) == (1, (16,), 2)
    assert game.winner == WHITE and result_margin(game.result) == komi - 7
    assert detect_ladder_runner(game, BLACK).triggered is fires


def test_the_exploit_of_pass_back_wins_at_once_against_the_flawed_member() -> None:
    result = play_match(
        ExploitingPlayer("pass-back", make_player("random-noeye:1")),
        make_player("flawed:pass-back:random-noeye:2"),
        2,
        Rules(size=7),
    )
    as_white = [g for g in result.games if g.white.startswith("exploit")]
    assert as_white and all(g.winner == WHITE and len(g.moves) == 5 for g in as_white)
    assert all(detect_pass_back(g, BLACK).triggered for g in as_white)


# ----------------------------------------------------------- on recorded real games


def fire_rates(games: list[Game]) -> dict[tuple[str, str], float]:
    fired: Counter[tuple[str, str]] = Counter()
    seats: Counter[str] = Counter()
    for game in games:
        for colour in (BLACK, WHITE):
            name = game.player(colour)
            seats[name] += 1
            for flaw in FLAWS.values():
                fired[name, flaw.name] += flaw.detect(game, colour).triggered
    return {(name, flaw): fired[name, flaw] / seats[name] for name in seats for flaw in FLAWS}


@RECORDINGS
def test_detectors_stay_silent_against_the_twins_and_every_other_member(
    size: int, held_out: bool
) -> None:
    games = recorded("members", size, held_out)
    rates = fire_rates(games)
    assert {name for name, _ in rates} >= {"gnugo:0", "gnugo:3", "mcts:100", "random"}
    assert len(games) >= 100
    loud = {key: rate for key, rate in rates.items() if rate > FALSE_FIRE_LIMIT}
    assert not loud


@SIZES
def test_pass_back_detector_fires_in_every_game_the_flaw_decides(size: int) -> None:
    """A game the flaw decides: the flawed member lost with the colour at which its twin
    beat the same exploiter in at least 90% of games."""
    games = recorded("exploit", size)
    flawed, twin = "flawed:pass-back:gnugo:0", "gnugo:0"
    exploiter = "exploit:pass-back:gnugo:0"

    def score(member: str, colour: int) -> float:
        mine = [g for g in games if g.player(colour) == member and exploiter in (g.black, g.white)]
        return float(np.mean([g.score_for(colour) for g in mine]))

    decided = []
    for colour in (BLACK, WHITE):
        if score(twin, colour) >= 0.9:
            decided += [
                g for g in games if g.player(colour) == flawed and g.score_for(colour) == 0.0
            ]
            assert score(flawed, colour) <= 0.1
    assert len(decided) >= 10
    for game in decided:
        colour = BLACK if game.black == flawed else WHITE
        assert detect_pass_back(game, colour).triggered


def early_passers(games: list[Game]) -> set[str]:
    """The players that pass early in any of `games`, counted as the study counts them."""
    players = {g.black for g in games} | {g.white for g in games}
    shown = members_showing(games, players, early_passes)
    return {player for player, (passed, _) in shown.items() if passed}


@SIZES
def test_the_pass_back_exploit_is_absent_from_member_games_but_for_weak_mcts(size: int) -> None:
    """An early pass (the exploit) never comes from GnuGo, the heuristics or the random
    movers; plain MCTS at 100 play-outs makes one in some games (measured: 7 of 56 on
    7x7, 2 of 39 on 9x9), so a crowd that means to show the exploit as new play keeps it
    out (see docs/study.md)."""
    assert early_passers(recorded("members", size)) <= {"mcts:100"}
    exploit_games = recorded("exploit", size)
    assert any(early_passes(g, WHITE) for g in exploit_games if g.white.startswith("exploit"))


def test_mcts_at_400_playouts_passes_early_on_its_own_so_the_twin_crowd_has_none() -> None:
    """Plain MCTS passes when it is sure of the result, which is the pass-back exploit's
    pattern; a crowd with an MCTS member could not show the exploit as play none of its
    members makes (claim 3 of docs/study.md)."""
    assert early_passers(recorded("members", 9, suffix="_mcts400")) == {"mcts:400"}
    crowd = Crowd.load(
        Path(crowdzero.players.__file__).parent / "twin_crowd.toml",
        build_players=False,
        board_size=9,
    )
    for member in crowd.members:
        spec: str | None = member.spec
        while spec is not None and flaw_of(spec) is not None:
            spec = twin_of(spec)
        assert spec is not None and not spec.startswith("mcts"), member.spec


def ladder_exploit_games(size: int, held_out: bool, member: str) -> list[tuple[Game, int]]:
    """(game, member's colour) for `member` against the ladder-runner's exploiter."""
    games = recorded("exploit", size, held_out)
    return [
        (g, BLACK if g.black == member else WHITE)
        for g in games
        if LADDER_EXPLOITER in (g.black, g.white) and member in (g.black, g.white)
    ]


def stones_the_flaw_lost(game: Game, colour: int) -> int:
    """Stones of the chains the flawed wrapper ran (wherever `ladder_runner_move` named a
    move, it played that move) that were captured later; each chain once."""
    positions = [*game.positions(), game.replay()]
    lost: set[frozenset[int]] = set()
    for ply, move in enumerate(game.moves):
        if move.colour != colour or ladder_runner_move(positions[ply]) is None:
            continue
        assert move.point == ladder_runner_move(positions[ply])  # the wrapper's choice
        for later in range(ply + 2, len(positions)):
            if positions[later].board[move.point] == 0:
                before = positions[later - 1]
                chain = BoardGroups(before.board, game.rules.size).group_at(move.point)
                assert chain is not None
                lost.add(chain.stones)
                break
    return sum(len(stones) for stones in lost)


@pytest.mark.parametrize("held_out", [False, True])
def test_ladder_runner_detector_fires_in_every_loss_its_runs_decide(held_out: bool) -> None:
    """A loss the flaw decides: the flawed member lost, and the chains its flawed choices
    ran and lost are worth the margin (two points a stone in the area count). Found from
    the wrapper's side (where its condition held), not by the detector's reading. In the
    wider set of losses where any run was captured the detector fires in at least half:
    it misses a single run that cost less than the margin."""
    decided: list[tuple[Game, int]] = []
    punished: list[tuple[Game, int]] = []
    for game, colour in ladder_exploit_games(9, held_out, LADDER_FLAWED):
        lost = stones_the_flaw_lost(game, colour)
        margin = result_margin(game.result)
        if game.winner != -colour or not lost:
            continue
        punished.append((game, colour))
        if margin is not None and 2 * lost >= margin:
            decided.append((game, colour))
    assert len(decided) >= 4
    assert all(detect_ladder_runner(g, c).triggered for g, c in decided)
    caught = sum(detect_ladder_runner(g, c).triggered for g, c in punished)
    assert caught >= len(punished) / 2


@pytest.mark.parametrize("held_out", [False, True])
def test_the_twin_meets_working_ladders_and_the_detector_stays_silent(held_out: bool) -> None:
    """Against the exploiter the twin (GnuGo 0 without the flaw) meets working ladders in
    most games and runs from almost none; the detector stays under the limit."""
    games = ladder_exploit_games(9, held_out, "gnugo:0")
    reads = [ladder_runs(g, c) for g, c in games]
    assert sum(read.met > 0 for read in reads) >= len(games) / 4
    fired = sum(detect_ladder_runner(g, c).triggered for g, c in games)
    assert fired <= FALSE_FIRE_LIMIT * len(games)


@pytest.mark.parametrize("held_out", [False, True])
def test_on_7x7_gnugo_0_never_meets_a_working_ladder(held_out: bool) -> None:
    """Why the flaw changes nothing at 7x7: neither the flawed member nor its twin ever
    has a chain in atari that a ladder catches, so the flawed choice is never made."""
    for member in (LADDER_FLAWED, "gnugo:0"):
        games = ladder_exploit_games(7, held_out, member)
        assert len(games) >= 20
        assert all(ladder_runs(g, c).met == 0 for g, c in games)
