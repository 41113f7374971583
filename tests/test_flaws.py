"""Flaw detectors on hand-made games with known answers (triggered and not triggered)."""

from __future__ import annotations

import pytest

from crowdzero.go.coords import BLACK, WHITE, gtp_to_point
from crowdzero.go.position import Position, Rules
from crowdzero.play.record import Game, Move
from crowdzero.players.flaws import (
    FLAW_DETECTORS,
    FlawReport,
    detect,
    detect_early_passer,
    detect_edge_neglect,
    detect_greedy,
    detect_ladder_blind,
    detect_local,
)


def game_of(size: int, moves: str, komi: float = 0.5, finish: bool = True) -> Game:
    """A game from GTP moves alternating from Black ("pass" allowed); two passes end it."""
    position = Position(Rules(size=size, komi=komi))
    record: list[Move] = []
    words = moves.split()
    if finish:
        words += ["pass", "pass"]
    for word in words:
        if position.is_over:
            break
        colour = position.to_play
        point = gtp_to_point(word, size)
        position.play(point)
        record.append(Move(colour, point))
    return Game(
        rules=position.rules,
        black="black",
        white="white",
        moves=tuple(record),
        result=position.result_string(),
        winner=position.winner(),
        date="2024-01-01",
    )


def ply_of(game: Game, word: str, colour: int, occurrence: int = 0) -> int:
    """Index of the `occurrence`-th move `word` by `colour` in the game."""
    point = gtp_to_point(word, game.rules.size)
    hits = [i for i, m in enumerate(game.moves) if m.point == point and m.colour == colour]
    return hits[occurrence]


# Snapback on 5x5: White's chain A2 B2 C2 C1 is in atari after Black's throw-in at B1;
# White (greedy) takes the throw-in stone at A1 and Black retakes at B1, capturing five.
SNAPBACK_SETUP = "A3 A2 B3 B2 C3 C2 D3 C1 D2 pass D1 pass B1"


def test_greedy_capture_into_snapback_is_detected() -> None:
    game = game_of(5, SNAPBACK_SETUP + " A1 B1")
    report = detect_greedy(game, WHITE)
    assert report == FlawReport(True, 1, (ply_of(game, "A1", WHITE),))


def test_greedy_capture_that_costs_nothing_is_not_a_flaw() -> None:
    # White captures Black's lone stone C3 and Black gets nothing back.
    game = game_of(7, "C3 C2 A7 B3 A6 D3 A5 C4")
    assert detect_greedy(game, WHITE) == FlawReport(False, 0, ())


# White's E5-E6 is in atari at E4 when it takes Black's B8 at B7; Black captures E5-E6.
def test_greedy_capture_while_a_bigger_group_dies_is_detected() -> None:
    game = game_of(9, "D5 E5 D6 E6 F5 A8 F6 C8 B8 B9 E7 B7 E4")
    report = detect_greedy(game, WHITE)
    assert report == FlawReport(True, 1, (ply_of(game, "B7", WHITE),))


def test_bigger_capture_of_a_group_that_was_safe_is_not_greedy() -> None:
    # E5-E6 had two liberties when White captured at B7; Black needs two moves to take it.
    game = game_of(9, "D5 E5 D6 E6 F5 A8 F6 C8 B8 B9 J1 B7 E7 J9 E4")
    assert ply_of(game, "E4", BLACK) - ply_of(game, "B7", WHITE) == 3  # inside the window
    assert not detect_greedy(game, WHITE).triggered


def test_greedy_detector_looks_at_the_members_colour_only() -> None:
    game = game_of(5, SNAPBACK_SETUP + " A1 B1")
    assert not detect_greedy(game, BLACK).triggered


# Local on 9x9: Black ataris White's E5 (liberty E4) and then plays far away at B8;
# White answers next to B8 instead of extending at E4, and Black captures at E4.
LOCAL_SETUP = "D5 E5 F5 J1 E6 C8 B8"


def test_local_answer_that_abandons_an_atari_is_detected() -> None:
    game = game_of(9, LOCAL_SETUP + " C7 E4")
    report = detect_local(game, WHITE)
    assert report == FlawReport(True, 1, (ply_of(game, "C7", WHITE),))


def test_local_answer_is_not_a_flaw_when_the_opponent_does_not_cash_in() -> None:
    game = game_of(9, LOCAL_SETUP + " C7 G7")
    assert not detect_local(game, WHITE).triggered


def test_tenuki_to_save_the_group_is_not_a_local_flaw() -> None:
    game = game_of(9, LOCAL_SETUP + " E4 G7")
    assert not detect_local(game, WHITE).triggered


def test_local_answer_that_lets_a_capturable_chain_escape_is_detected() -> None:
    # White's B2 stone... reversed roles: White ataris Black's E5, Black plays far away,
    # White (local) answers near it and Black extends out of atari.
    game = game_of(9, "E5 D5 J1 F5 J2 E6 B8 C7 E4")
    report = detect_local(game, WHITE)
    assert report == FlawReport(True, 1, (ply_of(game, "C7", WHITE),))


# Edge neglect on 9x9: White's first-line stone E1 is put in atari by D1 and F1; White plays
# elsewhere and Black captures at E2.
EDGE_SETUP = "D1 E1 F1"


def test_unrescued_first_line_stone_is_detected() -> None:
    game = game_of(9, EDGE_SETUP + " C5 E2")
    report = detect_edge_neglect(game, WHITE)
    assert report == FlawReport(True, 1, (ply_of(game, "C5", WHITE),))


def test_rescued_first_line_stone_is_not_a_flaw() -> None:
    game = game_of(9, EDGE_SETUP + " E2 C5")
    assert not detect_edge_neglect(game, WHITE).triggered


def test_second_line_stone_left_in_atari_is_not_edge_neglect() -> None:
    # White's E2 is in atari (D2, F2, E3) and dies, but it is not a first-line chain.
    game = game_of(9, "D2 E2 F2 J9 E3 C5 E1")
    assert not detect_edge_neglect(game, WHITE).triggered


# A working ladder on 9x9: White E5 is ataried at F5 and runs E4, D4, D3, ... to the corner
# while Black keeps giving atari; the chain is captured at the end.
LADDER_SETUP = "D5 E5 E6 pass F4 pass F5"
LADDER_RUN = "E4 E3 D4 C4 D3 D2 C3 B3 C2 C1 B2 B1 A2 A3"


def test_running_a_working_ladder_is_detected() -> None:
    game = game_of(9, f"{LADDER_SETUP} {LADDER_RUN} pass A1")
    report = detect_ladder_blind(game, WHITE)
    assert report.triggered
    assert report.plies[0] == ply_of(game, "E4", WHITE)
    assert ply_of(game, "A2", WHITE) in report.plies


def test_ladder_with_a_breaker_is_not_a_flaw() -> None:
    # White's stone at C3 breaks the ladder, so extending at E4 is right and nothing dies.
    game = game_of(9, "D5 E5 E6 C3 F4 pass F5 E4 E3 D4 C4 D3")
    assert not detect_ladder_blind(game, WHITE).triggered


def test_working_ladder_the_opponent_never_finishes_is_not_a_flaw() -> None:
    game = game_of(9, f"{LADDER_SETUP} E4 J9")
    assert not detect_ladder_blind(game, WHITE).triggered


# 7x7, komi 7.5: after Black's G7 and A1 White's D4 counts far ahead, so White passes;
# Black plays on, White keeps passing, and Black surrounds and captures D4.
EARLY_PASS = "G7 D4 A1 pass"


def test_passing_while_the_count_leads_and_losing_is_the_early_passer_flaw() -> None:
    game = game_of(7, EARLY_PASS + " C4 pass E4 pass D3 pass D5", komi=7.5)
    assert game.winner == BLACK
    # Only the first pass counts: by ply 5 White's count already said it was behind.
    assert detect_early_passer(game, WHITE) == FlawReport(True, 1, (3,))


def test_passing_when_the_opponent_passes_back_is_not_a_flaw() -> None:
    game = game_of(7, EARLY_PASS, komi=7.5)
    assert game.winner == WHITE
    assert not detect_early_passer(game, WHITE).triggered


def test_a_losers_final_pass_is_not_an_early_pass() -> None:
    # Black owns the 5x5 board; White passes at the end (its count says it is behind).
    game = game_of(5, "C1 pass C2 pass C3 pass C4 pass C5", komi=0.5)
    assert game.winner == BLACK
    assert not detect_early_passer(game, WHITE).triggered


def test_every_heuristic_member_has_a_detector() -> None:
    assert set(FLAW_DETECTORS) == {
        "heuristic:greedy",
        "heuristic:local",
        "heuristic:edge-neglect",
        "heuristic:ladder-blind",
        "heuristic:early-passer",
    }


def test_detect_accepts_the_short_member_name() -> None:
    game = game_of(5, SNAPBACK_SETUP + " A1 B1")
    assert detect("greedy", game, WHITE) == detect("heuristic:greedy", game, WHITE)


def test_detect_rejects_an_unknown_member() -> None:
    with pytest.raises(ValueError, match="no flaw detector"):
        detect("heuristic:shy", game_of(5, ""), BLACK)
