"""The 8 symmetries of the square board (the dihedral group D4), for planes and policies.

Go is unchanged by rotating or reflecting the board, so a position, its search policy and
its ownership map can be transformed together to make 8 training examples from one, and a
network can be asked about a transformed board and its answer mapped back.

A symmetry is an int ``s`` in ``0..7``: first reflect left-right (swap columns) if ``s >= 4``,
then rotate by ``s % 4`` quarter turns (``np.rot90`` on the last two axes). ``0`` is the
identity. Points use the contract's flat order ``p = row * N + col``, so a policy's first N*N
entries are an [N, N] plane read row by row; that single definition is what keeps a stone and
its policy mass together. The pass entry (last) never moves.

Everything works on numpy arrays and torch tensors, with any leading batch dimensions.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TypeVar

import numpy as np
import torch

NUM_SYMMETRIES = 8
IDENTITY = 0
SYMMETRIES: tuple[int, ...] = tuple(range(NUM_SYMMETRIES))

Array = TypeVar("Array", np.ndarray, torch.Tensor)


def _check(s: int) -> None:
    if not 0 <= s < NUM_SYMMETRIES:
        raise ValueError(f"symmetry must be in 0..7, not {s}")


def transform_planes(x: Array, s: int) -> Array:
    """Apply symmetry ``s`` to planes [..., N, N]; returns a new contiguous array/tensor."""
    _check(s)
    if isinstance(x, torch.Tensor):
        t = torch.flip(x, dims=(-1,)) if s >= 4 else x
        t = torch.rot90(t, s % 4, dims=(-2, -1)) if s % 4 else t
        return t.clone() if t is x else t.contiguous()
    a = np.flip(x, axis=-1) if s >= 4 else x
    a = np.rot90(a, s % 4, axes=(-2, -1))
    return np.array(a, copy=True, order="C")


@lru_cache(maxsize=64)
def _point_sources(size: int) -> np.ndarray:
    """int64 [8, N*N]: ``table[s][q]`` is the point that symmetry ``s`` moves onto ``q``.

    Built by transforming the board of point labels, so it agrees with ``transform_planes``
    by construction.
    """
    labels = np.arange(size * size).reshape(size, size)
    table = np.stack([transform_planes(labels, s).reshape(-1) for s in SYMMETRIES])
    table.setflags(write=False)
    return table


@lru_cache(maxsize=64)
def _policy_sources(size: int) -> np.ndarray:
    """int64 [8, N*N+1]: ``_point_sources`` with the pass entry mapped to itself."""
    n = size * size
    table = np.concatenate((_point_sources(size), np.full((NUM_SYMMETRIES, 1), n)), axis=1)
    table.setflags(write=False)
    return table


@lru_cache(maxsize=64)
def _point_sources_torch(size: int) -> torch.Tensor:
    return torch.from_numpy(_point_sources(size).copy())


@lru_cache(maxsize=64)
def _policy_sources_torch(size: int) -> torch.Tensor:
    return torch.from_numpy(_policy_sources(size).copy())


def point_sources(size: int, s: int) -> np.ndarray:
    """int64 [N*N]: ``out[..., q] = x[..., sources[q]]`` applies ``s`` to flat points."""
    _check(s)
    return _point_sources(size)[s]


def _size_from_points(n_points: int) -> int:
    size = math.isqrt(n_points)
    if size * size != n_points:
        raise ValueError(f"{n_points} entries is not a square board")
    return size


def transform_points(x: Array, s: int) -> Array:
    """Apply ``s`` to per-point values [..., N*N] (ownership maps, masks, point policies)."""
    _check(s)
    size = _size_from_points(x.shape[-1])
    if isinstance(x, torch.Tensor):
        return x[..., _point_sources_torch(size)[s].to(x.device)]
    return x[..., point_sources(size, s)]


def transform_policy(policy: Array, s: int) -> Array:
    """Apply ``s`` to a policy [..., N*N+1]: points move with the board, pass stays last."""
    _check(s)
    size = _size_from_points(policy.shape[-1] - 1)
    if isinstance(policy, torch.Tensor):
        return policy[..., _policy_sources_torch(size)[s].to(policy.device)]
    return policy[..., _policy_sources(size)[s]]


def _table_of(s: int) -> tuple[int, ...]:
    # On a 3x3 board all 8 symmetries give distinct label tables (it has no symmetric labels).
    return tuple(int(v) for v in _point_sources(3)[s])


_BY_TABLE = {_table_of(s): s for s in SYMMETRIES}


def compose(a: int, b: int) -> int:
    """The symmetry equal to applying ``b`` first, then ``a``."""
    _check(a)
    _check(b)
    labels = np.arange(9).reshape(3, 3)
    result = transform_planes(transform_planes(labels, b), a)
    return _BY_TABLE[tuple(int(v) for v in result.reshape(-1))]


INVERSE: tuple[int, ...] = tuple(
    next(t for t in SYMMETRIES if compose(t, s) == IDENTITY) for s in SYMMETRIES
)


def inverse(s: int) -> int:
    """The symmetry that undoes ``s``: ``transform(transform(x, s), inverse(s)) == x``."""
    _check(s)
    return INVERSE[s]


def random_symmetry(rng: np.random.Generator) -> int:
    return int(rng.integers(NUM_SYMMETRIES))


def augment(
    features: np.ndarray,
    policy: np.ndarray,
    ownership: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One random symmetry applied to a training example.

    features [C, N, N], policy [N*N+1], ownership [N*N] or None -> the same shapes.
    """
    s = random_symmetry(rng)
    return (
        transform_planes(features, s),
        transform_policy(policy, s),
        None if ownership is None else transform_points(ownership, s),
    )


def augment_batch(
    features: np.ndarray,
    policy: np.ndarray,
    ownership: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """An independent random symmetry per example, in a few vectorised gathers.

    features [B, C, N, N], policy [B, N*N+1], ownership [B, N*N] or None -> the same shapes.
    """
    batch, _, size, _ = features.shape
    n = size * size
    chosen = rng.integers(NUM_SYMMETRIES, size=batch)
    sources = _point_sources(size)[chosen]  # [B, N*N]
    flat = features.reshape(batch, -1, n)
    new_features = np.take_along_axis(flat, sources[:, None, :], axis=-1).reshape(features.shape)
    policy_sources = _policy_sources(size)[chosen]  # [B, N*N+1]
    new_policy = np.take_along_axis(policy, policy_sources, axis=-1)
    new_ownership = None if ownership is None else np.take_along_axis(ownership, sources, axis=-1)
    return new_features, new_policy, new_ownership
