"""Numba kernels behind `Position` and the random play-outs.

Everything here works on a flat ``int8`` board of ``N*N`` points (BLACK=1, WHITE=-1,
EMPTY=0) and a per-size neighbour table ``nbr[p, 0..3]`` (valid neighbours first, then
-1), so one compiled kernel serves every board size and no kernel needs to know about
rows and columns. The Python layer (`position.py`, `playout.py`) owns validation and
messages; these functions trust their inputs.

Kernels are compiled on first use and cached on disk (``cache=True``), so a process pays
the compile once per machine and later imports only load the cached machine code.
``nogil=True`` on the play-out kernels lets Monte Carlo players run them from threads.

Liberty counting uses "generation" marks: a point belongs to the current flood fill when
``mark[q] == gen``; bumping ``gen`` starts a fresh fill without clearing the arrays.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
from numba import njit

OK = 0
OCCUPIED = 1
SUICIDE = 2
KO = 3
SUPERKO = 4

_ZOBRIST_SEED = 0x5EED_C0DE


class Tables(NamedTuple):
    """Read-only per-size tables shared by every position of that size."""

    size: int
    nbr: np.ndarray  # int32 [N*N, 4]: orthogonal neighbours, valid first, then -1
    diag: np.ndarray  # int32 [N*N, 4]: diagonal neighbours, valid first, then -1
    zobrist: np.ndarray  # uint64 [2, N*N]: row 0 black stones, row 1 white stones
    white_to_move: np.uint64  # key xored in when white is to move (situational superko)


@cache
def tables(size: int) -> Tables:
    """Neighbour tables and a fixed-seed Zobrist table for one board size."""
    n2 = size * size
    nbr = np.full((n2, 4), -1, dtype=np.int32)
    diag = np.full((n2, 4), -1, dtype=np.int32)
    for p in range(n2):
        row, col = divmod(p, size)
        steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
        k = 0
        for dr, dc in steps:
            r, c = row + dr, col + dc
            if 0 <= r < size and 0 <= c < size:
                nbr[p, k] = r * size + c
                k += 1
        k = 0
        for dr, dc in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            r, c = row + dr, col + dc
            if 0 <= r < size and 0 <= c < size:
                diag[p, k] = r * size + c
                k += 1
    rng = np.random.default_rng(_ZOBRIST_SEED + size)
    keys = rng.integers(1, 2**64 - 1, size=2 * n2 + 1, dtype=np.uint64, endpoint=True)
    for array in (nbr, diag, keys):
        array.setflags(write=False)
    zobrist = keys[: 2 * n2].reshape(2, n2)
    return Tables(size, nbr, diag, zobrist, keys[-1])


# --------------------------------------------------------------------------- groups


@njit(cache=True, inline="always")
def _count_libs(board, start, nbr, mark, libmark, stack, gen, limit):
    """Distinct liberties of the group at ``start``, stopping early at ``limit``."""
    colour = board[start]
    mark[start] = gen
    stack[0] = start
    top = 1
    libs = 0
    while top > 0:
        top -= 1
        p = stack[top]
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            v = board[q]
            if v == 0:
                if libmark[q] != gen:
                    libmark[q] = gen
                    libs += 1
                    if libs >= limit:
                        return libs
            elif v == colour and mark[q] != gen:
                mark[q] = gen
                stack[top] = q
                top += 1
    return libs


@njit(cache=True, inline="always")
def _remove_group(board, start, nbr, out, offset):
    """Empty the group at ``start``; its points go to ``out[offset:offset+count]``."""
    colour = board[start]
    board[start] = 0
    out[offset] = start
    count = 1
    read = offset
    while read < offset + count:
        p = out[read]
        read += 1
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            if board[q] == colour:
                board[q] = 0
                out[offset + count] = q
                count += 1
    return count


# ------------------------------------------------------------------ one move (Position)


@njit(cache=True, inline="always")
def _repeats(log, count, target):
    for i in range(count):  # noqa: SIM110 (numba wants a plain loop)
        if log[i] == target:
            return True
    return False


@njit(cache=True)
def play_stone(board, point, colour, ko_point, nbr, zobrist, log, count, swap):
    """Put a ``colour`` stone on ``point`` of ``board`` (mutated) and capture.

    ``log[:count]`` holds the hashes of earlier positions, newest last, for superko
    (``count = 0`` skips the check); ``swap`` is what passing the turn xors into a hash
    (0 for positional superko, the white-to-move key for situational).
    Returns ``(code, captured, new_ko_point, hash_delta)``. On a code other than OK the
    board may be left half-played; callers pass a copy and drop it.
    """
    if board[point] != 0:
        return OCCUPIED, 0, -1, np.uint64(0)
    if point == ko_point:
        return KO, 0, -1, np.uint64(0)
    n2 = board.size
    work = np.empty(4 * n2, np.int32)  # one allocation: marks, stack, removed stones
    work[: 2 * n2] = 0
    mark = work[:n2]
    libmark = work[n2 : 2 * n2]
    stack = work[2 * n2 : 3 * n2]
    removed = work[3 * n2 :]
    own = 0 if colour == 1 else 1
    board[point] = colour
    delta = zobrist[own, point]
    captured = 0
    gen = 0
    for k in range(4):
        q = nbr[point, k]
        if q < 0:
            break
        if board[q] == -colour:
            gen += 1
            if _count_libs(board, q, nbr, mark, libmark, stack, gen, 1) == 0:
                n = _remove_group(board, q, nbr, removed, captured)
                for i in range(captured, captured + n):
                    delta ^= zobrist[1 - own, removed[i]]
                captured += n
    gen += 1
    libs = _count_libs(board, point, nbr, mark, libmark, stack, gen, 2)
    if captured == 0 and libs == 0:
        board[point] = 0
        return SUICIDE, 0, -1, np.uint64(0)
    new_ko = -1
    if captured == 1 and libs == 1:
        alone = True
        for k in range(4):
            q = nbr[point, k]
            if q < 0:
                break
            if board[q] == colour:
                alone = False
        if alone:
            new_ko = removed[0]
    if count > 0 and _repeats(log, count, log[count - 1] ^ swap ^ delta):
        return SUPERKO, 0, -1, np.uint64(0)
    return OK, captured, new_ko, delta


@njit(cache=True, inline="always")
def _label_groups(board, nbr, zobrist, group, libs, ghash):
    """Flood-fill every chain once: ``group[p]`` its label (-1 on empty points),
    ``libs[g]`` its liberty count and ``ghash[g]`` the Zobrist hash of its stones.

    The one group labelling of the board, shared by the legal-move mask (which needs
    the hashes for superko) and the liberty feature planes; returns the number of chains.
    """
    n2 = board.size
    libmark = np.full(n2, -1, np.int32)
    stack = np.empty(n2, np.int32)
    ngroups = 0
    for s in range(n2):
        c = board[s]
        if c == 0 or group[s] >= 0:
            continue
        g = ngroups
        ngroups += 1
        idx = 0 if c == 1 else 1
        group[s] = g
        stack[0] = s
        top = 1
        h = np.uint64(0)
        nl = 0
        while top > 0:
            top -= 1
            p = stack[top]
            h ^= zobrist[idx, p]
            for k in range(4):
                q = nbr[p, k]
                if q < 0:
                    break
                v = board[q]
                if v == 0:
                    if libmark[q] != g:
                        libmark[q] = g
                        nl += 1
                elif v == c and group[q] < 0:
                    group[q] = g
                    stack[top] = q
                    top += 1
        libs[g] = nl
        ghash[g] = h
    return ngroups


@njit(cache=True)
def legal_points(board, colour, ko_point, nbr, zobrist, mask, log, count, swap):
    """Fill ``mask[p]`` for every point: empty, not suicide, not the ko point and (when
    ``count > 0``) not a superko repetition of ``log[:count]`` (see `play_stone`).

    Groups are labelled once, so the whole board costs O(N*N); the log goes into a
    4096-bit filter first so that only the few candidates it flags are searched for.
    """
    n2 = board.size
    one = np.uint64(1)
    six = np.uint64(6)
    low6 = np.uint64(63)
    bits = np.zeros(64, np.uint64)
    for i in range(count):
        h = log[i]
        bits[(h >> six) & low6] |= one << (h & low6)
    base = np.uint64(0)
    if count > 0:
        base = log[count - 1] ^ swap
    group = np.full(n2, -1, np.int32)
    libs = np.zeros(n2, np.int32)
    ghash = np.zeros(n2, np.uint64)
    _label_groups(board, nbr, zobrist, group, libs, ghash)
    own = 0 if colour == 1 else 1
    for p in range(n2):
        mask[p] = False
        if board[p] != 0 or p == ko_point:
            continue
        legal = False
        delta = zobrist[own, p]
        seen0 = -1
        seen1 = -1
        seen2 = -1
        for k in range(4):
            q = nbr[p, k]
            if q < 0:
                break
            v = board[q]
            if v == 0:
                legal = True
            elif v == colour:
                if libs[group[q]] >= 2:
                    legal = True
            else:
                g = group[q]
                if libs[g] == 1 and g != seen0 and g != seen1 and g != seen2:
                    legal = True
                    delta ^= ghash[g]
                    if seen0 < 0:
                        seen0 = g
                    elif seen1 < 0:
                        seen1 = g
                    else:
                        seen2 = g
        if legal and count > 0:
            target = base ^ delta
            if (bits[(target >> six) & low6] >> (target & low6)) & one:
                legal = not _repeats(log, count, target)
        mask[p] = legal
    return 0


@njit(cache=True)
def area_counts(board, nbr):
    """Tromp-Taylor area: ``(black, white)`` counts of stones plus empty regions that
    reach only that colour's stones."""
    n2 = board.size
    seen = np.zeros(n2, np.bool_)
    stack = np.empty(n2, np.int32)
    black = 0
    white = 0
    for s in range(n2):
        v = board[s]
        if v == 1:
            black += 1
            continue
        if v == -1:
            white += 1
            continue
        if seen[s]:
            continue
        seen[s] = True
        stack[0] = s
        top = 1
        size = 0
        touch_b = False
        touch_w = False
        while top > 0:
            top -= 1
            p = stack[top]
            size += 1
            for k in range(4):
                q = nbr[p, k]
                if q < 0:
                    break
                w = board[q]
                if w == 0:
                    if not seen[q]:
                        seen[q] = True
                        stack[top] = q
                        top += 1
                elif w == 1:
                    touch_b = True
                else:
                    touch_w = True
        if touch_b and not touch_w:
            black += size
        elif touch_w and not touch_b:
            white += size
    return black, white


@njit(cache=True)
def liberty_planes(board, colour, nbr, zobrist, out):
    """Mark every stone by its group's liberty count in ``out`` float32 [6, N*N] (zeroed
    by the caller): rows 0, 1, 2 hold ``colour``'s stones in groups with 1, 2 and 3 or
    more liberties, rows 3, 4, 5 the other colour's. Each group is flood-filled once."""
    n2 = board.size
    group = np.full(n2, -1, np.int32)
    libs = np.zeros(n2, np.int32)
    ghash = np.zeros(n2, np.uint64)
    ngroups = _label_groups(board, nbr, zobrist, group, libs, ghash)
    for p in range(n2):
        g = group[p]
        if g < 0 or libs[g] == 0:
            continue  # empty, or a chain without liberties the rules could not reach
        out[min(libs[g], 3) - 1 + (0 if board[p] == colour else 3), p] = 1.0
    return ngroups


# --------------------------------------------------------------------------- play-outs


@njit(cache=True, inline="always")
def _next_random(state):
    """xorshift64*: a small, fast generator with its state in ``state[0]``."""
    x = state[0]
    x ^= x >> np.uint64(12)
    x ^= x << np.uint64(25)
    x ^= x >> np.uint64(27)
    state[0] = x
    return x * np.uint64(2685821657736338717)


@njit(cache=True, inline="always")
def _below(state, n):
    """A random integer in ``[0, n)`` (multiply-shift; bias below 2**-32 * n)."""
    r = _next_random(state) >> np.uint64(32)
    return np.int64((r * np.uint64(n)) >> np.uint64(32))


@njit(cache=True)
def seed_state(seed):
    """Generator state from any integer seed (splitmix64, so nearby seeds differ)."""
    z = np.uint64(seed) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    if z == np.uint64(0):
        z = np.uint64(0x2545F4914F6CDD1D)
    state = np.empty(1, np.uint64)
    state[0] = z
    return state


@njit(cache=True, inline="always")
def _is_own_eye(board, p, colour, nbr, diag):
    """A true single-point eye of ``colour``: every orthogonal neighbour is ``colour``
    and the opponent holds no diagonal on the edge, at most one in the centre."""
    for k in range(4):
        q = nbr[p, k]
        if q < 0:
            break
        if board[q] != colour:
            return False
    bad = 0
    ndiag = 0
    for k in range(4):
        q = diag[p, k]
        if q < 0:
            break
        ndiag += 1
        if board[q] == -colour:
            bad += 1
    if ndiag < 4:
        return bad == 0
    return bad <= 1


@njit(cache=True)
def playout_inplace(
    board, colour, ko_point, passes, max_moves, nbr, diag, state, record, scratch, marks
):
    """Play random non-eye-filling moves on ``board`` (mutated) until two passes in a row
    or ``max_moves`` moves; returns the number of moves played (passes included).

    Only simple ko is enforced (a superko cycle runs into ``max_moves``). When
    ``record.size > 0`` the moves are written to ``record`` (pass = N*N).
    ``scratch`` is int32 [3, N*N] and ``marks`` int32 [2, N*N] working space.
    """
    n2 = board.size
    empties = scratch[0]
    stack = scratch[1]
    mark = marks[0]
    libmark = marks[1]
    mark[:] = 0
    libmark[:] = 0
    gen = 0
    n_empty = 0
    for p in range(n2):
        if board[p] == 0:
            empties[n_empty] = p
            n_empty += 1
    moves = 0
    keep = record.size > 0
    while passes < 2 and moves < max_moves:
        k = n_empty
        chosen = -1
        while k > 0:
            i = _below(state, k)
            p = empties[i]
            ok = p != ko_point and not _is_own_eye(board, p, colour, nbr, diag)
            if ok:
                ok = False
                for j in range(4):
                    q = nbr[p, j]
                    if q < 0:
                        break
                    if board[q] == 0:
                        ok = True
                        break
                if not ok:
                    for j in range(4):
                        q = nbr[p, j]
                        if q < 0:
                            break
                        v = board[q]
                        gen += 1
                        if v == colour:
                            if _count_libs(board, q, nbr, mark, libmark, stack, gen, 2) >= 2:
                                ok = True
                                break
                        elif _count_libs(board, q, nbr, mark, libmark, stack, gen, 2) == 1:
                            ok = True
                            break
            if ok:
                chosen = i
                break
            k -= 1
            empties[i] = empties[k]
            empties[k] = p
        if chosen < 0:
            passes += 1
            ko_point = -1
            if keep:
                record[moves] = n2
        else:
            p = empties[chosen]
            n_empty -= 1
            empties[chosen] = empties[n_empty]
            board[p] = colour
            captured = 0
            last = -1
            for j in range(4):
                q = nbr[p, j]
                if q < 0:
                    break
                if board[q] == -colour:
                    gen += 1
                    if _count_libs(board, q, nbr, mark, libmark, stack, gen, 1) == 0:
                        n = _remove_group(board, q, nbr, empties, n_empty)
                        n_empty += n
                        captured += n
                        last = q
            ko_point = -1
            if captured == 1:
                alone = True
                libs = 0
                for j in range(4):
                    q = nbr[p, j]
                    if q < 0:
                        break
                    v = board[q]
                    if v == colour:
                        alone = False
                    elif v == 0:
                        libs += 1
                if alone and libs == 1:
                    ko_point = last
            passes = 0
            if keep:
                record[moves] = p
        colour = -colour
        moves += 1
    return moves


@njit(cache=True, nogil=True)
def playout_once(board, colour, ko_point, passes, max_moves, komi, nbr, diag, seed, record):
    """One play-out on ``board`` (mutated); returns ``(score, moves)``, score being
    black area - white area - komi."""
    n2 = board.size
    state = seed_state(seed)
    scratch = np.empty((3, n2), np.int32)
    marks = np.empty((2, n2), np.int32)
    moves = playout_inplace(
        board, colour, ko_point, passes, max_moves, nbr, diag, state, record, scratch, marks
    )
    black, white = area_counts(board, nbr)
    return black - white - komi, moves


@njit(cache=True, nogil=True)
def playout_many(board, colour, ko_point, passes, max_moves, komi, nbr, diag, seed, scores):
    """``scores.size`` play-outs from the same start (the first one is the game
    `playout_once` plays with the same seed); fills ``scores`` and returns the total
    number of moves played."""
    n2 = board.size
    state = seed_state(seed)
    work = np.empty(n2, np.int8)
    scratch = np.empty((3, n2), np.int32)
    marks = np.empty((2, n2), np.int32)
    record = np.empty(0, np.int32)
    total = 0
    for i in range(scores.size):
        work[:] = board
        total += playout_inplace(
            work, colour, ko_point, passes, max_moves, nbr, diag, state, record, scratch, marks
        )
        black, white = area_counts(work, nbr)
        scores[i] = black - white - komi
    return total
