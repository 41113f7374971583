"""The 8 board symmetries: pairing of planes and policies, inverses, group structure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from crowdzero.net.symmetry import (
    IDENTITY,
    INVERSE,
    SYMMETRIES,
    augment,
    augment_batch,
    compose,
    inverse,
    point_sources,
    transform_planes,
    transform_points,
    transform_policy,
)


def board_with_stone(size: int, point: int) -> np.ndarray:
    planes = np.zeros((size, size), np.float32)
    planes.reshape(-1)[point] = 1.0
    return planes


@pytest.mark.parametrize("s", SYMMETRIES)
def test_a_stone_and_its_policy_mass_move_together(s: int) -> None:
    size = 7
    for point in (0, 3, 10, 24, 48):
        planes = board_with_stone(size, point)
        policy = np.zeros(size * size + 1, np.float32)
        policy[point] = 1.0
        moved_stone = int(np.flatnonzero(transform_planes(planes, s).reshape(-1))[0])
        moved_mass = int(np.argmax(transform_policy(policy, s)))
        assert moved_stone == moved_mass


@pytest.mark.parametrize("s", SYMMETRIES)
def test_pass_entry_never_moves(s: int) -> None:
    policy = np.zeros(26, np.float32)
    policy[25] = 0.7
    policy[3] = 0.3
    assert transform_policy(policy, s)[25] == pytest.approx(0.7)


def test_the_eight_symmetries_are_distinct() -> None:
    labels = np.arange(25).reshape(5, 5)
    images = {transform_planes(labels, s).tobytes() for s in SYMMETRIES}
    assert len(images) == 8


def test_symmetries_map_corners_to_corners_and_keep_the_centre() -> None:
    size = 9
    corners = {0, size - 1, size * (size - 1), size * size - 1}
    centre = (size * size) // 2
    for s in SYMMETRIES:
        sources = point_sources(size, s)
        assert {int(sources[c]) for c in corners} == corners
        assert sources[centre] == centre


def test_identity_is_zero_and_one_is_a_quarter_turn() -> None:
    labels = np.arange(9).reshape(3, 3)
    assert np.array_equal(transform_planes(labels, IDENTITY), labels)
    assert np.array_equal(transform_planes(labels, 1), np.rot90(labels))


@pytest.mark.parametrize("s", SYMMETRIES)
def test_inverse_undoes_every_symmetry(s: int) -> None:
    rng = np.random.default_rng(s)
    planes = rng.random((2, 3, 6, 6)).astype(np.float32)
    policy = rng.random((2, 37)).astype(np.float32)
    ownership = rng.random((2, 36)).astype(np.float32)
    back = inverse(s)
    assert np.array_equal(transform_planes(transform_planes(planes, s), back), planes)
    assert np.array_equal(transform_policy(transform_policy(policy, s), back), policy)
    assert np.array_equal(transform_points(transform_points(ownership, s), back), ownership)
    t = torch.from_numpy(planes)
    assert torch.equal(transform_planes(transform_planes(t, s), back), t)
    tp = torch.from_numpy(policy)
    assert torch.equal(transform_policy(transform_policy(tp, s), back), tp)


def test_group_is_closed_with_identity_and_inverses() -> None:
    for a, b in itertools.product(SYMMETRIES, SYMMETRIES):
        assert compose(a, b) in SYMMETRIES
    for s in SYMMETRIES:
        assert compose(s, IDENTITY) == s == compose(IDENTITY, s)
        assert compose(s, INVERSE[s]) == IDENTITY == compose(INVERSE[s], s)


def test_compose_means_apply_the_right_one_first() -> None:
    planes = np.arange(49).reshape(7, 7)
    for a, b in itertools.product(SYMMETRIES, SYMMETRIES):
        expected = transform_planes(transform_planes(planes, b), a)
        assert np.array_equal(transform_planes(planes, compose(a, b)), expected)


def test_composition_is_associative_and_not_commutative() -> None:
    for a, b, c in itertools.product(SYMMETRIES, repeat=3):
        assert compose(a, compose(b, c)) == compose(compose(a, b), c)
    assert any(compose(a, b) != compose(b, a) for a, b in itertools.product(SYMMETRIES, repeat=2))


@pytest.mark.parametrize("s", SYMMETRIES)
def test_numpy_and_torch_agree(s: int) -> None:
    rng = np.random.default_rng(10 + s)
    planes = rng.random((2, 5, 9, 9)).astype(np.float32)
    policy = rng.random((2, 82)).astype(np.float32)
    ownership = rng.random((2, 81)).astype(np.float32)
    assert np.array_equal(
        transform_planes(torch.from_numpy(planes), s).numpy(), transform_planes(planes, s)
    )
    assert np.array_equal(
        transform_policy(torch.from_numpy(policy), s).numpy(), transform_policy(policy, s)
    )
    assert np.array_equal(
        transform_points(torch.from_numpy(ownership), s).numpy(), transform_points(ownership, s)
    )


def test_transformed_planes_do_not_alias_the_input() -> None:
    planes = np.zeros((3, 5, 5), np.float32)
    for s in SYMMETRIES:
        out = transform_planes(planes, s)
        out[0, 0, 0] = 1.0
        assert planes[0, 0, 0] == 0.0
        assert out.flags.c_contiguous


def test_bad_symmetry_and_non_square_policy_are_refused() -> None:
    with pytest.raises(ValueError, match=r"0\.\.7"):
        transform_planes(np.zeros((5, 5)), 8)
    with pytest.raises(ValueError, match="not a square board"):
        transform_policy(np.zeros(30), 1)


@settings(max_examples=60, deadline=None)
@given(
    size=st.integers(5, 19),
    s=st.sampled_from(SYMMETRIES),
    data=st.data(),
)
def test_random_boards_keep_planes_and_policies_paired(
    size: int, s: int, data: st.DataObject
) -> None:
    """On any board, the policy's point part transforms exactly like a plane would."""
    board = data.draw(arrays(np.int8, (size, size), elements=st.sampled_from([-1, 0, 1])))
    policy = data.draw(arrays(np.float32, size * size + 1, elements=st.floats(0, 1, width=32)))
    planes = np.stack([board == 1, board == -1]).astype(np.float32)
    moved_planes = transform_planes(planes, s)
    moved_policy = transform_policy(policy, s)
    # The policy read as a plane moves exactly like the stone planes.
    as_plane = policy[:-1].reshape(size, size)
    assert np.array_equal(moved_policy[:-1].reshape(size, size), transform_planes(as_plane, s))
    assert moved_policy[-1] == policy[-1]
    # Each stone keeps the policy mass that sat on its point.
    for colour_plane in range(2):
        stones = moved_planes[colour_plane].reshape(-1) == 1
        original = planes[colour_plane].reshape(-1) == 1
        assert np.array_equal(np.sort(moved_policy[:-1][stones]), np.sort(policy[:-1][original]))
    assert moved_planes.sum() == planes.sum()


def test_augment_keeps_the_triple_consistent() -> None:
    rng = np.random.default_rng(3)
    size = 9
    for _ in range(20):
        point = int(rng.integers(size * size))
        features = np.stack([board_with_stone(size, point)] * 3)
        policy = np.zeros(size * size + 1, np.float32)
        policy[point] = 1.0
        ownership = np.zeros(size * size, np.float32)
        ownership[point] = 1.0
        f, p, o = augment(features, policy, ownership, rng)
        stone = int(np.flatnonzero(f[0].reshape(-1))[0])
        assert o is not None
        assert int(np.argmax(p)) == stone == int(np.argmax(o))
        assert np.array_equal(f[0], f[2])


def test_augment_batch_uses_each_symmetry_and_keeps_pairs() -> None:
    rng = np.random.default_rng(4)
    size, batch = 7, 64
    points = rng.integers(size * size, size=batch)
    features = np.zeros((batch, 3, size, size), np.float32)
    policy = np.zeros((batch, size * size + 1), np.float32)
    ownership = np.zeros((batch, size * size), np.float32)
    for i, point in enumerate(points):
        features[i, :, point // size, point % size] = 1.0
        policy[i, point] = 1.0
        ownership[i, point] = -1.0
    f, p, o = augment_batch(features, policy, ownership, rng)
    assert f.shape == features.shape and p.shape == policy.shape and o is not None
    moved = set()
    for i in range(batch):
        stone = int(np.flatnonzero(f[i, 1].reshape(-1))[0])
        assert int(np.argmax(p[i])) == stone == int(np.argmin(o[i]))
        # The symmetry applied to example i is one of the 8, applied to all its planes.
        candidates = [
            s for s in SYMMETRIES if np.array_equal(transform_planes(features[i], s), f[i])
        ]
        assert candidates
        moved.add(stone != points[i])
    assert moved == {True, False}


@pytest.mark.parametrize("s", SYMMETRIES)
def test_playing_the_transformed_moves_gives_the_transformed_features(s: int) -> None:
    """The symmetry's flat point order is the rules engine's: row * N + col."""
    from crowdzero.go.features import FeatureSpec, position_features
    from crowdzero.go.position import Position, Rules

    size = 9
    moves = [20, 30, 21, 31, 12, 40]
    where = {int(source): target for target, source in enumerate(point_sources(size, s))}
    original, moved = Position(Rules(size=size)), Position(Rules(size=size))
    for point in moves:
        original.play(point)
        moved.play(where[point])
    spec = FeatureSpec(history=2)
    assert np.array_equal(
        position_features(moved, spec), transform_planes(position_features(original, spec), s)
    )
