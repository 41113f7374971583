"""Search throughput: is the batched search as fast as the network lets it be?

    python -m benchmarks.search                        # 6x64 on 9x9, 64 games x 64 sims
    python -m benchmarks.search --algorithm puct --games 32 --moves 3
    python -m benchmarks.search --profile              # cProfile of the batched search

Prints, in one run and with the same network (TorchEvaluator, 2 threads):
  (a) the raw network's forward positions/s at the search's batch size;
  (b) simulations/s of the batched search over many concurrent self-play games, in
      steady state (trees reused from move to move, as in self-play);
  (c) simulations/s of a one-game-at-a-time search whose every leaf is a batch-1
      network call (how alpha-zero-general searches);
and the ratios against the targets: (b) >= 80% of (a), (b) >= 5x (c).
Numbers are for the machine it runs on; nothing here is asserted by the tests.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np
import torch

from benchmarks.network import measure_forward
from crowdzero.go.position import Position, Rules
from crowdzero.net import NetConfig, PolicyValueNet, TorchEvaluator
from crowdzero.players.base import MoveRequest
from crowdzero.search.config import SearchConfig
from crowdzero.search.searcher import BatchedSearcher


def opening_positions(games: int, size: int, seed: int) -> list[Position]:
    """Positions 0..30 random moves into a game, so trees see varied boards."""
    rng = np.random.default_rng(seed)
    positions = []
    for _ in range(games):
        position = Position(Rules(size))
        for _ in range(int(rng.integers(0, 31))):
            legal = np.flatnonzero(position.legal_mask()[:-1])
            position.play(int(rng.choice(legal)))
        positions.append(position)
    return positions


def self_play_rate(
    searcher: BatchedSearcher,
    positions: list[Position],
    moves: int,
    one_at_a_time: bool = False,
) -> tuple[float, float]:
    """(simulations/s, seconds) over ``moves`` self-play moves of every game, after one
    untimed warm-up move (which evaluates the roots and fills the trees)."""
    positions = [p.copy() for p in positions]
    ids = [f"g{i}" for i in range(len(positions))]

    def one_move() -> int:
        requests = [MoveRequest(i, p) for i, p in zip(ids, positions, strict=True)]
        if one_at_a_time:
            results = [searcher.search([r])[0] for r in requests]
        else:
            results = searcher.search(requests)
        for position, result in zip(positions, results, strict=True):
            position.play(result.point)
            if position.is_over:  # keep every game going: restart it
                position.__init__(position.rules)  # type: ignore[misc]
        return sum(r.simulations for r in results)

    one_move()
    start = time.perf_counter()
    simulations = sum(one_move() for _ in range(moves))
    elapsed = time.perf_counter() - start
    return simulations / elapsed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=9)
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--games", type=int, default=64)
    parser.add_argument("--simulations", type=int, default=64)
    parser.add_argument("--moves", type=int, default=2, help="timed self-play moves per game")
    parser.add_argument("--single-games", type=int, default=4, help="games for the batch-1 run")
    parser.add_argument("--algorithm", choices=["puct", "gumbel"], default="gumbel")
    parser.add_argument("--leaves-per-game", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0, help="raw network timing")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    torch.manual_seed(0)
    net = PolicyValueNet(
        NetConfig(board_size=args.size, blocks=args.blocks, channels=args.channels)
    )
    evaluator = TorchEvaluator(net, threads=args.threads)
    batch = args.games * args.leaves_per_game
    config = SearchConfig(
        algorithm=args.algorithm,
        simulations=args.simulations,
        leaves_per_game=args.leaves_per_game,
    )
    positions = opening_positions(args.games, args.size, seed=1)
    print(
        f"network {args.blocks}x{args.channels} on {args.size}x{args.size}, "
        f"{torch.get_num_threads()} torch threads; search {args.algorithm}, "
        f"{args.simulations} simulations, {args.games} games, "
        f"{args.leaves_per_game} leaves/game"
    )

    raw = measure_forward(evaluator, batch, args.seconds, board_size=args.size)
    print(f"(a) raw network, batch {batch}:          {raw:8.0f} positions/s")

    searcher = BatchedSearcher(evaluator, config, np.random.default_rng(0))
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
    batched, seconds = self_play_rate(searcher, positions, args.moves)
    if args.profile:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
    print(
        f"(b) batched search, {args.games} games:        {batched:8.0f} simulations/s ({seconds:.1f} s)"
    )

    single_config = SearchConfig(algorithm=args.algorithm, simulations=args.simulations)
    single = BatchedSearcher(evaluator, single_config, np.random.default_rng(0))
    alone, seconds = self_play_rate(
        single, positions[: args.single_games], args.moves, one_at_a_time=True
    )
    raw1 = measure_forward(evaluator, 1, args.seconds / 2, board_size=args.size)
    print(f"(c) one game at a time, batch 1:   {alone:8.0f} simulations/s ({seconds:.1f} s)")
    print(f"    (raw network at batch 1:       {raw1:8.0f} positions/s)")
    print(f"search / raw network = {batched / raw:5.1%}   (target >= 80%)")
    print(f"search / batch-1     = {batched / alone:5.1f}x   (target >= 5x)")


if __name__ == "__main__":
    main()
