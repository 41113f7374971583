"""Tromp-Taylor area scoring on hand-made boards: a point is black's if it holds a black
stone or is empty and reaches only black stones; stones are never removed as dead."""

from __future__ import annotations

import pytest

from crowdzero.go.coords import BLACK, WHITE
from crowdzero.go.position import Position, Rules


def board(text: str, komi: float) -> Position:
    rows = [line.split() for line in text.strip().splitlines()]
    size = len(rows)
    black = [
        (size - 1 - r) * size + c
        for r, row in enumerate(rows)
        for c, v in enumerate(row)
        if v == "X"
    ]
    white = [
        (size - 1 - r) * size + c
        for r, row in enumerate(rows)
        for c, v in enumerate(row)
        if v == "O"
    ]
    return Position.from_stones(Rules(size=size, komi=komi), black, white)


WALLS = """
. . X O .
. . X O .
. . X O .
. . X O .
. . X O .
"""

DAME = """
. X . O .
. X . O .
. X . O .
. X . O .
. X . O .
"""

STONE_IN_TERRITORY = """
. . X O .
. O X O .
. . X O .
. . X O .
. . X O .
"""

CORNER_TERRITORY = """
. . . . . . .
. . . . . . .
. . . . . . .
X X X . . . .
. . X . . O O
. . X . . O .
. . X . . O .
"""


def test_territory_behind_walls_counts_for_its_owner() -> None:
    position = board(WALLS, komi=0.5)
    assert position.area_counts() == (15, 10)
    assert position.area_score() == 4.5
    assert position.result_string() == "B+4.5"
    assert position.winner() == BLACK


def test_empty_points_between_both_colours_are_dame() -> None:
    position = board(DAME, komi=7.5)
    assert position.area_counts() == (10, 10)
    assert position.result_string() == "W+7.5"
    assert position.winner() == WHITE


def test_equal_area_with_whole_komi_is_a_jigo() -> None:
    position = board(DAME, komi=0)
    assert position.area_score() == 0
    assert position.result_string() == "0"
    assert position.winner() == 0


def test_a_stone_left_in_territory_makes_the_region_neutral() -> None:
    position = board(STONE_IN_TERRITORY, komi=7.5)
    assert position.area_counts() == (5, 11)
    assert position.area_score() == 5 - 11 - 7.5


def test_open_regions_touching_both_colours_count_for_no_one() -> None:
    position = board(CORNER_TERRITORY, komi=0)
    # black: 6 stones + 6 points in the lower-left; white: 4 stones + 2 points;
    # the big middle region reaches both colours
    assert position.area_counts() == (12, 6)


def test_empty_board_scores_minus_komi() -> None:
    position = Position(Rules(size=9, komi=7.5))
    assert position.area_score() == -7.5
    assert position.result_string() == "W+7.5"


@pytest.mark.parametrize("size", [5, 19])
def test_a_lone_stone_owns_the_whole_board(size: int) -> None:
    position = Position(Rules(size=size, komi=6))
    position.play(0)
    assert position.area_counts() == (size * size, 0)
    assert position.result_string() == f"B+{size * size - 6}"


def test_resignation_overrides_the_board() -> None:
    position = board(WALLS, komi=0.5)  # black is ahead on the board
    position.resign()  # black to move resigns
    assert position.winner() == WHITE
    assert position.result_string() == "W+R"
