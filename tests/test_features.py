"""Feature planes: side-to-move stones at t, t-1, ..., then the opponent's, then colour,
then (with liberties) own and opponent stones by liberty count and the ko point."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdzero.go.coords import gtp_to_point
from crowdzero.go.features import FeatureSpec, batch_features, position_features
from crowdzero.go.position import Position, Rules
from crowdzero.net.symmetry import SYMMETRIES, point_sources, transform_planes


def plane_points(plane: np.ndarray) -> set[str]:
    """GTP names of the points set in a [N, N] plane (row 0 = GTP row 1)."""
    size = plane.shape[0]
    names = set()
    for row, col in zip(*np.nonzero(plane), strict=True):
        names.add(f"{'ABCDEFGHJKLMNOPQRST'[col]}{row + 1}")
    assert all(gtp_to_point(name, size) >= 0 for name in names)
    return names


def plain(history: int) -> FeatureSpec:
    """Stones and colour only (the planes of a net without liberty features)."""
    return FeatureSpec(history=history, liberties=False)


def played(*moves: str, size: int = 9) -> Position:
    position = Position(Rules(size=size))
    for move in moves:
        position.play(gtp_to_point(move, size))
    return position


def test_start_position_has_only_the_black_to_move_plane() -> None:
    planes = position_features(Position(), plain(4))
    assert planes.shape == (9, 9, 9) and planes.dtype == np.float32
    assert not planes[:8].any()
    assert (planes[8] == 1).all()


def test_history_planes_go_back_in_time_from_the_side_to_move_view() -> None:
    planes = position_features(played("D4", "E5", "C3"), plain(3))  # white to move
    own = [plane_points(planes[t]) for t in range(3)]
    theirs = [plane_points(planes[3 + t]) for t in range(3)]
    assert own == [{"E5"}, {"E5"}, set()]
    assert theirs == [{"D4", "C3"}, {"D4"}, {"D4"}]
    assert not planes[6].any()  # white to move: colour plane is zeros


def test_boards_before_the_start_are_empty_planes() -> None:
    planes = position_features(played("D4"), plain(4))
    assert plane_points(planes[4]) == {"D4"}
    assert not planes[5:8].any() and not planes[:4].any()


def test_passes_are_steps_in_the_history() -> None:
    planes = position_features(played("D4", "pass"), plain(2))  # black to move
    assert plane_points(planes[0]) == {"D4"} and plane_points(planes[1]) == {"D4"}
    assert (planes[4] == 1).all()


def test_swapping_the_side_to_move_swaps_own_and_opponent_planes() -> None:
    rules = Rules(size=9)
    black, white = [0, 10, 20], [5, 15]
    as_black = position_features(Position.from_stones(rules, black, white, to_play=1), plain(2))
    as_white = position_features(Position.from_stones(rules, black, white, to_play=-1), plain(2))
    assert np.array_equal(as_black[0], as_white[2])
    assert np.array_equal(as_black[2], as_white[0])
    assert (as_black[4] == 1).all() and not as_white[4].any()


def test_captured_stones_disappear_from_the_current_plane_only() -> None:
    position = played("B1", "A1", "A2")  # black captures A1; white to move
    planes = position_features(position, plain(2))
    assert plane_points(planes[0]) == set()
    assert plane_points(planes[1]) == {"A1"}
    assert plane_points(planes[2]) == {"B1", "A2"}


def test_batch_features_stack_single_positions() -> None:
    positions = [Position(), played("D4"), played("D4", "E5", "pass")]
    for spec in (plain(3), FeatureSpec(history=3)):
        batch = batch_features(positions, spec)
        assert batch.shape == (3, spec.planes, 9, 9)
        for i, position in enumerate(positions):
            assert np.array_equal(batch[i], position_features(position, spec))


def test_batch_features_reject_mixed_sizes() -> None:
    with pytest.raises(ValueError, match="mixed board sizes"):
        batch_features([Position(), Position(Rules(size=5))], FeatureSpec())


@pytest.mark.parametrize("size", [5, 19])
def test_feature_shape_follows_board_size(size: int) -> None:
    planes = position_features(played("A1", size=size), plain(1))
    assert planes.shape == (3, size, size)
    assert plane_points(planes[1]) == {"A1"}


# --- liberty and ko planes -------------------------------------------------------------------

SPEC = FeatureSpec(history=1)  # planes: own, opponent, colour, 6 liberty planes, ko


def liberty_planes(position: Position, spec: FeatureSpec = SPEC) -> list[set[str]]:
    """The six liberty planes as GTP names: own 1, 2, 3+, then opponent 1, 2, 3+."""
    planes = position_features(position, spec)
    return [plane_points(planes[spec.liberty_plane + i]) for i in range(6)]


def test_liberty_and_ko_planes_come_after_the_old_planes() -> None:
    spec = FeatureSpec(history=4)
    assert spec.planes == 2 * 4 + 1 + 7
    assert (spec.colour_plane, spec.liberty_plane, spec.ko_plane) == (8, 9, 15)
    assert plain(4).planes == 9 and plain(4).ko_plane == -1
    position = played("D4", "E5", "C3")
    assert np.array_equal(
        position_features(position, spec)[:9], position_features(position, plain(4))
    )


def test_stones_go_to_the_plane_of_their_groups_liberty_count() -> None:
    rules = Rules(size=9)
    black = ["A1", "B1", "D1", "F1", "J1", "E5"]
    white = ["A2", "B2", "E1", "J9"]
    points = {name: gtp_to_point(name, 9) for name in black + white}
    position = Position.from_stones(
        rules, [points[n] for n in black], [points[n] for n in white], to_play=1
    )
    in_atari, two, many = {"A1", "B1"}, {"D1", "F1", "J1"}, {"E5"}  # black's groups
    their_atari, their_two, their_many = {"E1"}, {"J9"}, {"A2", "B2"}  # white's groups
    assert liberty_planes(position) == [in_atari, two, many, their_atari, their_two, their_many]
    as_white = Position.from_stones(
        rules, [points[n] for n in black], [points[n] for n in white], to_play=-1
    )
    assert liberty_planes(as_white) == [their_atari, their_two, their_many, in_atari, two, many]


def test_a_group_put_in_atari_moves_to_the_one_liberty_plane() -> None:
    position = played("E5", "E6", "C7", "D5")  # black E5 now has liberties E4 and F5
    assert liberty_planes(position)[1] == {"E5"}
    position.play(gtp_to_point("J9", 9))
    position.play(gtp_to_point("F5", 9))  # white takes F5: E5 is in atari, black to move
    own = liberty_planes(position)
    assert own[0] == {"E5"} and "E5" not in own[1] | own[2]


# Black D5, E6, E4 surround E5; white F6, F4, G5 surround F5. White plays into E5 and black
# takes it from F5: a ko, with E5 forbidden to white at once.
KO_MOVES = ["D5", "F6", "E6", "F4", "E4", "G5", "A9", "E5", "F5"]


def test_the_ko_plane_marks_the_point_retaking_is_forbidden_on() -> None:
    position = played(*KO_MOVES)
    assert position.ko_point == gtp_to_point("E5", 9)
    assert not position.is_legal(position.ko_point)
    planes = position_features(position, SPEC)
    assert plane_points(planes[SPEC.ko_plane]) == {"E5"}
    assert not position_features(played(*KO_MOVES[:-1]), SPEC)[SPEC.ko_plane].any()


@pytest.mark.parametrize("answer", ["J1", "pass"])
def test_the_ko_plane_is_cleared_by_the_next_move(answer: str) -> None:
    position = played(*KO_MOVES, answer)  # white plays elsewhere (a ko threat) or passes
    assert not position_features(position, SPEC)[SPEC.ko_plane].any()
    assert position.is_legal(gtp_to_point("E5", 9)) or answer == "pass"


def test_a_capture_of_two_stones_is_not_a_ko() -> None:
    # Black takes two white stones (D1, E1) from F1; no point is forbidden.
    position = played("C1", "D1", "D2", "E1", "E2", "A9", "F1")
    assert position.captures[1] == 2
    assert not position_features(position, SPEC)[SPEC.ko_plane].any()


def test_features_need_a_spec_not_a_history_count() -> None:
    with pytest.raises(TypeError, match="FeatureSpec"):
        batch_features([Position()], 4)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="history must be at least 1"):
        FeatureSpec(history=0)


def reference_liberty_planes(position: Position) -> np.ndarray:
    """float32 [6, N*N] by plain flood fill, one group at a time (slow and obvious)."""
    n = position.size
    board = position.board.reshape(n, n)
    out = np.zeros((6, n * n), np.float32)
    for row in range(n):
        for col in range(n):
            colour = board[row, col]
            if colour == 0:
                continue
            group, liberties, stack = {(row, col)}, set(), [(row, col)]
            while stack:
                r, c = stack.pop()
                for rr, cc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
                    if not (0 <= rr < n and 0 <= cc < n):
                        continue
                    if board[rr, cc] == 0:
                        liberties.add((rr, cc))
                    elif board[rr, cc] == colour and (rr, cc) not in group:
                        group.add((rr, cc))
                        stack.append((rr, cc))
            side = 0 if colour == position.to_play else 3
            out[side + min(len(liberties), 3) - 1, row * n + col] = 1.0
    return out


def random_game(size: int, moves: int, seed: int) -> Position:
    rng = np.random.default_rng(seed)
    position = Position(Rules(size=size))
    for _ in range(moves):
        legal = np.flatnonzero(position.legal_mask()[:-1])
        if position.is_over or legal.size == 0:
            break
        position.play(int(rng.choice(legal)))
    return position


@settings(max_examples=60, deadline=None)
@given(
    size=st.sampled_from([5, 7, 9, 13]),
    moves=st.integers(0, 120),
    seed=st.integers(0, 2**32 - 1),
)
def test_liberty_planes_match_a_plain_flood_fill(size: int, moves: int, seed: int) -> None:
    position = random_game(size, moves, seed)
    planes = position_features(position, SPEC).reshape(SPEC.planes, -1)
    libs = planes[SPEC.liberty_plane : SPEC.liberty_plane + 6]
    np.testing.assert_array_equal(libs, reference_liberty_planes(position))
    # Every stone is on exactly one liberty plane, on its own side's half.
    np.testing.assert_array_equal(libs[:3].sum(0), planes[0])
    np.testing.assert_array_equal(libs[3:].sum(0), planes[1])
    ko = planes[SPEC.ko_plane]
    assert ko.sum() == (position.ko_point >= 0)
    if position.ko_point >= 0:
        assert ko[position.ko_point] == 1 and not position.is_legal(position.ko_point)


def play_both(moves: list[int], s: int, size: int) -> tuple[Position, Position]:
    """The game as played, and the same game with every move moved by symmetry ``s``."""
    where = {int(source): target for target, source in enumerate(point_sources(size, s))}
    original, moved = Position(Rules(size=size)), Position(Rules(size=size))
    for point in moves:
        original.play(point)
        moved.play(point if point == size * size else where[point])
    return original, moved


@pytest.mark.parametrize("s", SYMMETRIES)
def test_every_plane_moves_with_the_board_under_each_symmetry(s: int) -> None:
    moves = [gtp_to_point(m, 9) for m in KO_MOVES]  # ends in a ko, with groups in atari
    original, moved = play_both(moves, s, 9)
    spec = FeatureSpec(history=3)
    before, after = position_features(original, spec), position_features(moved, spec)
    # Not vacuous: the ko point, and black's F5 in atari (white to move: opponent's plane).
    assert before[spec.ko_plane].any() and before[spec.liberty_plane + 3].any()
    np.testing.assert_array_equal(after, transform_planes(before, s))


@settings(max_examples=25, deadline=None)
@given(s=st.sampled_from(SYMMETRIES), moves=st.integers(0, 60), seed=st.integers(0, 2**32 - 1))
def test_features_of_a_transformed_game_are_the_transformed_features(
    s: int, moves: int, seed: int
) -> None:
    size = 7
    game = random_game(size, moves, seed)
    original, moved = play_both([point for _, point in game.moves], s, size)
    spec = FeatureSpec(history=2)
    np.testing.assert_array_equal(
        position_features(moved, spec), transform_planes(position_features(original, spec), s)
    )
