"""GTP coordinates: flat indices, letters without I, pass and resign."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crowdzero.go.coords import (
    BLACK,
    RESIGN,
    WHITE,
    colour_name,
    from_row_col,
    gtp_to_point,
    opponent,
    pass_point,
    point_to_gtp,
    to_row_col,
)
from crowdzero.go.errors import CoordinateError


@st.composite
def board_points(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(5, 19))
    return draw(st.integers(0, size * size)), size  # includes the pass point


@given(board_points())
def test_gtp_text_round_trips_to_the_same_point(point_and_size: tuple[int, int]) -> None:
    point, size = point_and_size
    text = point_to_gtp(point, size)
    assert gtp_to_point(text, size) == point
    assert gtp_to_point(text.lower(), size) == point


@given(board_points())
def test_row_col_round_trips(point_and_size: tuple[int, int]) -> None:
    point, size = point_and_size
    if point == size * size:
        return
    row, col = to_row_col(point, size)
    assert from_row_col(row, col, size) == point


def test_row_one_is_the_bottom_and_column_a_the_left() -> None:
    assert point_to_gtp(0, 9) == "A1"
    assert point_to_gtp(8, 9) == "J1"  # I is skipped
    assert point_to_gtp(80, 9) == "J9"
    assert point_to_gtp(9, 9) == "A2"
    assert point_to_gtp(360, 19) == "T19"
    assert gtp_to_point("D4", 9) == 3 * 9 + 3


def test_pass_and_resign_have_their_own_points() -> None:
    assert pass_point(9) == 81
    assert point_to_gtp(81, 9) == "pass"
    assert gtp_to_point("PASS", 9) == 81
    assert point_to_gtp(RESIGN, 9) == "resign"
    assert gtp_to_point("resign", 9) == RESIGN


@pytest.mark.parametrize("text", ["I3", "Z9", "D0", "D", "4D", "", "D-1", "DD4", "D04", "pas"])
def test_malformed_text_raises_coordinate_error(text: str) -> None:
    with pytest.raises(CoordinateError):
        gtp_to_point(text, 19)


@pytest.mark.parametrize(("text", "size"), [("K1", 9), ("A10", 9), ("F1", 5), ("T20", 19)])
def test_points_off_the_board_raise_coordinate_error(text: str, size: int) -> None:
    with pytest.raises(CoordinateError, match="off the"):
        gtp_to_point(text, size)


@pytest.mark.parametrize("point", [-2, 82, 100])
def test_indices_off_the_board_raise_coordinate_error(point: int) -> None:
    with pytest.raises(CoordinateError):
        point_to_gtp(point, 9)


def test_colours() -> None:
    assert opponent(BLACK) == WHITE and opponent(WHITE) == BLACK
    assert colour_name(BLACK) == "Black" and colour_name(WHITE) == "White"
    with pytest.raises(ValueError):
        colour_name(0)
