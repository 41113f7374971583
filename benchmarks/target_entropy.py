"""How sharp are the search's policy targets? Gumbel targets at two sigma scales.

Positions come from seeded random play (a random number of moves, 0..60, on the
checkpoint's board); each is searched with root noise, as in training, once with every
`--scales` value of `search.gumbel_c_scale`. Prints the mean entropy of the network's
prior and of the targets, and the share of targets with more than 95% on one move.

    python -m benchmarks.target_entropy docs/results/crowd-9x9/final-ckpt-00001674.pt
    python -m benchmarks.target_entropy CKPT --simulations 16 --positions 64 --scales 1.0,0.1
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from crowdzero.go.features import batch_features
from crowdzero.go.position import Position, Rules
from crowdzero.net.checkpoint import load_checkpoint
from crowdzero.net.evaluator import TorchEvaluator
from crowdzero.play.player import MoveRequest
from crowdzero.search.config import SearchConfig
from crowdzero.search.searcher import BatchedSearcher, masked_softmax


def entropy(p: np.ndarray) -> float:
    q = p[p > 0]
    return float(-(q * np.log(q)).sum())


def random_positions(size: int, count: int, seed: int) -> list[Position]:
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        position = Position(Rules(size))
        for _ in range(int(rng.integers(0, 61))):
            legal = np.flatnonzero(position.legal_mask()[:-1])
            if position.is_over or legal.size == 0:
                break
            position.play(int(rng.choice(legal)))
        if not position.is_over:
            out.append(position)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--simulations", type=int, default=16)
    parser.add_argument("--positions", type=int, default=64)
    parser.add_argument("--scales", default="1.0,0.1")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ckpt = load_checkpoint(args.checkpoint)
    evaluator = TorchEvaluator(ckpt.build_model())
    positions = random_positions(ckpt.config.board_size, args.positions, args.seed)
    features = batch_features(positions, evaluator.feature_spec)
    logits, _ = evaluator.evaluate(features)
    legal = np.stack([p.legal_mask() for p in positions])
    prior = np.mean([entropy(p) for p in masked_softmax(logits, legal)])
    print(
        f"{args.checkpoint} ({ckpt.config.describe()}, step {ckpt.step}): "
        f"{len(positions)} positions, {args.simulations} simulations, with root noise"
    )
    print(f"  prior: mean entropy {prior:.2f} nats")
    for scale in (float(s) for s in args.scales.split(",")):
        config = dataclasses.replace(
            SearchConfig(),
            simulations=args.simulations,
            gumbel_c_scale=scale,
            full_search_fraction=1.0,
            reuse_tree=False,
        )
        searcher = BatchedSearcher(evaluator, config, np.random.default_rng(args.seed))
        requests = [MoveRequest(f"g{i}", p) for i, p in enumerate(positions)]
        results = searcher.search(requests, add_noise=True)
        targets = [r.policy for r in results]
        sharp = np.mean([t.max() > 0.95 for t in targets])
        mean = np.mean([entropy(t) for t in targets])
        print(
            f"  c_scale {scale:g}: target entropy {mean:.2f} nats, {sharp:.0%} of targets "
            "put > 95% on one move"
        )
        searcher.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
