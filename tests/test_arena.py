"""Arena matches and calibration round robins, played for real with random movers on 5x5."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from crowdzero.analysis.arena import ARENA_SOURCE, ArenaError, MatchResult, play_match
from crowdzero.analysis.calibration import (
    CALIBRATION_SOURCE,
    CalibrationError,
    calibration_pairs,
    play_calibration,
)
from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.position import Rules
from crowdzero.play.player import MoveChoice, MoveRequest, Player, PlayerError
from crowdzero.players.random import RandomNoEyePlayer, RandomPlayer
from crowdzero.store.game_store import GameStore

RULES = Rules(size=5, komi=2.5)


class ResigningPlayer(Player):
    """Resigns at once: a player whose every game is a loss."""

    name = "resigner"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return MoveChoice(-1)


class BrokenPlayer(Player):
    """Fails on its first move, as a dead engine does."""

    name = "broken"

    def select_move(self, request: MoveRequest) -> MoveChoice:
        raise PlayerError("the engine died")


def test_a_match_alternates_colours_and_counts_every_game() -> None:
    a, b = RandomPlayer(seed=1), RandomNoEyePlayer(seed=2)
    result = play_match(a, b, 9, RULES, concurrency=4)
    assert result.player_a == "random" and result.player_b == "random-noeye"
    assert len(result.games) == 9 and result.played == 9 and result.dropped == 0
    assert result.a_wins + result.b_wins + result.draws == 9
    assert result.a_black_games == 5  # games 0, 2, 4, 6, 8
    assert sum(g.black == "random" for g in result.games) == 5
    wins = sum(g.winner == (BLACK if g.black == "random" else WHITE) for g in result.games)
    assert wins == result.a_wins
    for game in result.games:
        black_is_a = game.black == "random"
        assert game.colour_of("random") == (BLACK if black_is_a else WHITE)
        assert game.colour_of("random-noeye") == (WHITE if black_is_a else BLACK)
        assert game.colour_of("nobody") == 0
    for game in result.games:
        assert game.replay().is_over or len(game.moves) >= 2 * 25  # finished or capped
        assert game.rules == RULES and game.agent_colour == 0


def test_a_match_stores_its_games_as_arena_games(tmp_path: Path) -> None:
    with GameStore(tmp_path / "games.sqlite") as store:
        result = play_match(RandomPlayer(seed=3), RandomNoEyePlayer(seed=4), 4, RULES, 2, store)
        assert len(result.game_ids) == 4
        assert store.count_games(source=ARENA_SOURCE) == 4
        stored = [store.get_game(i) for i in result.game_ids]
    assert [g.result for g in stored] == [g.result for g in result.games]


def test_a_player_who_always_resigns_loses_every_game_with_either_colour() -> None:
    result = play_match(RandomPlayer(seed=5), ResigningPlayer(), 6, RULES, concurrency=3)
    assert (result.a_wins, result.b_wins, result.draws) == (6, 0, 0)
    assert result.a_black_wins == 3
    assert result.score == 1.0
    assert math.isfinite(result.elo_difference()) and result.elo_difference() > 300
    low, high = result.score_interval()
    assert 0.5 < low < high == 1.0
    assert result.elo_interval()[1] == math.inf
    assert "6-0-0" in result.summary()


def test_games_voided_by_a_failing_player_are_counted_as_dropped() -> None:
    result = play_match(BrokenPlayer(), RandomPlayer(seed=6), 4, RULES, concurrency=2)
    # The broken player is black in games 0 and 2 and fails at once; as white it fails on
    # its first move too, so no game is finished.
    assert result.dropped == 4 and result.games == () and result.played == 0
    assert result.score == 0.5


def test_players_with_the_same_name_cannot_be_told_apart() -> None:
    with pytest.raises(ArenaError, match="both players are called 'random'"):
        play_match(RandomPlayer(seed=1), RandomPlayer(seed=2), 2, RULES)


def test_an_empty_match_has_no_results() -> None:
    result = play_match(RandomPlayer(), RandomNoEyePlayer(), 0, RULES)
    assert result == MatchResult("random", "random-noeye", 0, 0, 0, 0, 0, 0, ())


def test_calibration_pairs_neighbours_within_the_span() -> None:
    members = ["a", "b", "c", "d"]
    assert calibration_pairs(members, 1) == [("a", "b"), ("b", "c"), ("c", "d")]
    assert calibration_pairs(members, 2) == [
        ("a", "b"),
        ("a", "c"),
        ("b", "c"),
        ("b", "d"),
        ("c", "d"),
    ]
    assert len(calibration_pairs(members)) == 6
    with pytest.raises(CalibrationError):
        calibration_pairs(["a", "a"])


def test_a_calibration_round_robin_plays_every_pair_in_both_colours(tmp_path: Path) -> None:
    players = {
        "random": RandomPlayer(seed=1),
        "random-noeye": RandomNoEyePlayer(seed=2),
        "resigner": ResigningPlayer(),
    }
    pairs = calibration_pairs(list(players))
    with GameStore(tmp_path / "cal.sqlite") as store:
        run = play_calibration(players, pairs, 4, rules=RULES, concurrency=3, store=store)
        assert store.count_games(source=CALIBRATION_SOURCE) == 12
    assert run.games == 12 and run.dropped == 0
    by_colour = {(r.black, r.white): r for r in run.results}
    assert len(by_colour) == 6  # 3 pairs x 2 colour orders
    assert all(r.games == 2 for r in run.results)
    assert by_colour[("resigner", "random")].white_wins == 2
    assert by_colour[("random", "resigner")].black_wins == 2


def test_a_calibration_needs_a_player_for_every_member() -> None:
    with pytest.raises(CalibrationError, match="'ghost'"):
        play_calibration({"random": RandomPlayer()}, [("random", "ghost")], 2, rules=RULES)
