"""Random play-out speed of the crowdzero rules engine against OpenSpiel's C++ Go.

Three ways to play random games on an N x N board, each for ``--seconds`` (in\ninterleaved slices, so the ratios hold up on a shared machine):

- crowdzero, numba loop: `random_playouts`, the whole game inside one compiled kernel
  (uniform random legal moves that never fill an own true eye; simple ko inside);
- crowdzero, Python loop: ``legal_mask()`` + random choice + ``Position.play`` per move,
  the way a Python player or the tree search drives the engine (full superko rules);
- OpenSpiel (``pyspiel``): ``state.legal_actions()`` + random choice +
  ``state.apply_action`` per move (OpenSpiel cuts games at 2 * N * N moves; so does our
  Python loop, for a like-for-like count).

Also: how many ``copy() + play()`` (crowdzero) and ``clone() + apply_action``
(OpenSpiel) pairs per second, the operation a tree search repeats.

Run: ``python benchmarks/rules.py --seconds 3 --size 9``
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable

import numpy as np

from crowdzero.go.playout import random_playouts_with_moves, warm_up
from crowdzero.go.position import Position, Rules

Step = Callable[[], int]  # plays some games or moves; returns how many units it did


def crowdzero_numba(size: int) -> Step:
    position = Position(Rules(size=size))
    seed = iter(range(1, 10**9))

    def step() -> int:
        _, moves = random_playouts_with_moves(position, 100, next(seed))
        return moves

    return step


def crowdzero_python(size: int) -> Step:
    rng = random.Random(1)
    limit = 2 * size * size

    def step() -> int:
        position = Position(Rules(size=size))
        moves = 0
        while not position.is_over and moves < limit:
            legal = np.flatnonzero(position.legal_mask())
            position.play(int(legal[rng.randrange(len(legal))]))
            moves += 1
        return moves

    return step


def crowdzero_copy_play(size: int) -> Step:
    position = Position(Rules(size=size))
    rng = random.Random(2)
    for _ in range(size * size // 3):  # a middle-game position with a history
        legal = np.flatnonzero(position.legal_mask()[:-1])
        position.play(int(legal[rng.randrange(len(legal))]))
    candidates = np.flatnonzero(position.legal_mask()[:-1]).tolist()

    def step() -> int:
        for point in candidates:
            position.copy().play(point)
        return len(candidates)

    return step


def openspiel_python(size: int) -> Step | None:
    try:
        import pyspiel
    except ImportError:
        return None
    game = pyspiel.load_game("go", {"board_size": size, "komi": 7.5})
    rng = random.Random(1)

    def step() -> int:
        state = game.new_initial_state()
        moves = 0
        while not state.is_terminal():
            state.apply_action(rng.choice(state.legal_actions()))
            moves += 1
        return moves

    return step


def openspiel_clone_apply(size: int) -> Step | None:
    try:
        import pyspiel
    except ImportError:
        return None
    game = pyspiel.load_game("go", {"board_size": size, "komi": 7.5})
    rng = random.Random(2)
    state = game.new_initial_state()
    for _ in range(size * size // 3):
        state.apply_action(rng.choice(state.legal_actions()[:-1]))
    legal = state.legal_actions()[:-1]

    def step() -> int:
        for action in legal:
            state.clone().apply_action(action)
        return len(legal)

    return step


def measure(steps: list[Step | None], seconds: float, rounds: int = 6) -> list[float | None]:
    """Units per second of each step, run in interleaved slices of ``seconds / rounds``
    so that a change in machine load hits every engine alike (the ratios stay fair)."""
    done = [0] * len(steps)
    spent = [0.0] * len(steps)
    for _ in range(rounds):
        for i, step in enumerate(steps):
            if step is None:
                continue
            start = time.perf_counter()
            while (elapsed := time.perf_counter() - start) < seconds / rounds:
                done[i] += step()
            spent[i] += elapsed
    return [None if step is None else d / t for step, d, t in zip(steps, done, spent, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--size", type=int, default=9, help="board size (5..19)")
    args = parser.parse_args()

    start = time.perf_counter()
    warm_up()
    print(f"numba kernels ready in {time.perf_counter() - start:.2f} s (compile or cache load)")

    names = [
        "crowdzero play-outs, numba loop",
        "crowdzero play-outs, Python loop",
        "OpenSpiel play-outs, Python loop",
        "crowdzero copy()+play()",
        "OpenSpiel clone()+apply_action()",
    ]
    steps = [
        crowdzero_numba(args.size),
        crowdzero_python(args.size),
        openspiel_python(args.size),
        crowdzero_copy_play(args.size),
        openspiel_clone_apply(args.size),
    ]
    rows = list(zip(names, measure(steps, args.seconds), strict=True))
    if rows[2][1] is None:
        print("OpenSpiel skipped: `import pyspiel` failed (pip install open-spiel)")
    reference = {0: rows[2][1], 1: rows[2][1], 3: rows[4][1]}
    print(f"\n{args.size}x{args.size}, {args.seconds:g} s each")
    print(f"{'what':<34} {'per second':>17} {'vs OpenSpiel':>13}")
    for i, (name, rate) in enumerate(rows):
        if rate is None:
            continue
        ref = reference.get(i)
        ratio = f"{rate / ref:.2f}x" if ref else "1.00x"
        unit = "moves" if i < 3 else "pairs"
        print(f"{name:<34} {rate:>11,.0f} {unit:<5} {ratio:>13}")


if __name__ == "__main__":
    main()
