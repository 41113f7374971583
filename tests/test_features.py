"""Feature planes: side-to-move stones at t, t-1, ..., then the opponent's, then colour."""

from __future__ import annotations

import numpy as np
import pytest

from crowdzero.go.coords import gtp_to_point
from crowdzero.go.features import batch_features, position_features
from crowdzero.go.position import Position, Rules


def plane_points(plane: np.ndarray) -> set[str]:
    """GTP names of the points set in a [N, N] plane (row 0 = GTP row 1)."""
    size = plane.shape[0]
    names = set()
    for row, col in zip(*np.nonzero(plane), strict=True):
        names.add(f"{'ABCDEFGHJKLMNOPQRST'[col]}{row + 1}")
    assert all(gtp_to_point(name, size) >= 0 for name in names)
    return names


def played(*moves: str, size: int = 9) -> Position:
    position = Position(Rules(size=size))
    for move in moves:
        position.play(gtp_to_point(move, size))
    return position


def test_start_position_has_only_the_black_to_move_plane() -> None:
    planes = Position().features(history=4)
    assert planes.shape == (9, 9, 9) and planes.dtype == np.float32
    assert not planes[:8].any()
    assert (planes[8] == 1).all()


def test_history_planes_go_back_in_time_from_the_side_to_move_view() -> None:
    planes = played("D4", "E5", "C3").features(history=3)  # white to move
    own = [plane_points(planes[t]) for t in range(3)]
    theirs = [plane_points(planes[3 + t]) for t in range(3)]
    assert own == [{"E5"}, {"E5"}, set()]
    assert theirs == [{"D4", "C3"}, {"D4"}, {"D4"}]
    assert not planes[6].any()  # white to move: colour plane is zeros


def test_boards_before_the_start_are_empty_planes() -> None:
    planes = played("D4").features(history=4)
    assert plane_points(planes[4]) == {"D4"}
    assert not planes[5:8].any() and not planes[:4].any()


def test_passes_are_steps_in_the_history() -> None:
    planes = played("D4", "pass").features(history=2)  # black to move
    assert plane_points(planes[0]) == {"D4"} and plane_points(planes[1]) == {"D4"}
    assert (planes[4] == 1).all()


def test_swapping_the_side_to_move_swaps_own_and_opponent_planes() -> None:
    rules = Rules(size=9)
    black, white = [0, 10, 20], [5, 15]
    as_black = Position.from_stones(rules, black, white, to_play=1).features(history=2)
    as_white = Position.from_stones(rules, black, white, to_play=-1).features(history=2)
    assert np.array_equal(as_black[0], as_white[2])
    assert np.array_equal(as_black[2], as_white[0])
    assert (as_black[4] == 1).all() and not as_white[4].any()


def test_captured_stones_disappear_from_the_current_plane_only() -> None:
    position = played("B1", "A1", "A2")  # black captures A1; white to move
    planes = position.features(history=2)
    assert plane_points(planes[0]) == set()
    assert plane_points(planes[1]) == {"A1"}
    assert plane_points(planes[2]) == {"B1", "A2"}


def test_batch_features_stack_single_positions() -> None:
    positions = [Position(), played("D4"), played("D4", "E5", "pass")]
    batch = batch_features(positions, history=3)
    assert batch.shape == (3, 7, 9, 9)
    for i, position in enumerate(positions):
        assert np.array_equal(batch[i], position_features(position, 3))


def test_batch_features_reject_mixed_sizes() -> None:
    with pytest.raises(ValueError, match="mixed board sizes"):
        batch_features([Position(), Position(Rules(size=5))])


@pytest.mark.parametrize("size", [5, 19])
def test_feature_shape_follows_board_size(size: int) -> None:
    planes = played("A1", size=size).features(history=1)
    assert planes.shape == (3, size, size)
    assert plane_points(planes[1]) == {"A1"}
