"""Network throughput: forward positions/s by batch size, and Adam training steps/s.

    python -m benchmarks.network                      # 6x64 on 9x9, 2 threads
    python -m benchmarks.network --blocks 10 --channels 128 --seconds 3
    python -m benchmarks.network --no-channels-last --compile --no-fuse
    python -m benchmarks.network --no-global-pooling   # each new part can be turned off

``measure_forward(evaluator, batch, seconds)`` is importable (benchmarks/search.py uses it).
Numbers are for the machine it runs on; nothing here is asserted by the tests.
"""

from __future__ import annotations

import os

# Before torch is imported, as in crowdzero/net/__init__.py (see the note there).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time

import numpy as np
import torch
from torch.nn import functional as F

from crowdzero.go.features import FeatureSpec
from crowdzero.net.evaluator import SYMMETRY_MODES, TorchEvaluator, set_torch_threads
from crowdzero.net.model import NetConfig, PolicyValueNet


def random_features(
    batch: int, spec: FeatureSpec, board_size: int, rng: np.random.Generator
) -> np.ndarray:
    """Plausible feature planes: disjoint stones for each side, a colour plane, and (with
    ``spec.liberties``) random 0/1 liberty and ko planes (the cost does not depend on them)."""
    shape = (batch, spec.history, board_size, board_size)
    stones = rng.integers(0, 3, size=shape)
    own = (stones == 1).astype(np.float32)
    opp = (stones == 2).astype(np.float32)
    colour = np.full((batch, 1, board_size, board_size), float(rng.integers(2)), np.float32)
    extra = spec.planes - 2 * spec.history - 1
    other = rng.integers(0, 2, size=(batch, extra, board_size, board_size)).astype(np.float32)
    return np.concatenate((own, opp, colour, other), axis=1)


def measure_forward(
    evaluator: object, batch: int, seconds: float, *, board_size: int | None = None
) -> float:
    """Positions per second (wall clock) through ``evaluator.evaluate`` at a fixed batch size.

    Works for any object with the Evaluator protocol (``feature_spec`` and ``evaluate``); the board
    size is taken from ``evaluator.board_size`` unless given. Two warm-up calls are not timed.
    """
    return _measure_forward(evaluator, batch, seconds, board_size=board_size)[0]


def _measure_forward(
    evaluator: object, batch: int, seconds: float, *, board_size: int | None = None
) -> tuple[float, float]:
    """(positions per wall-clock second, positions per CPU second of this process).

    The second number is the one to trust on a busy shared machine: other processes steal
    wall-clock time but not this process's CPU time.
    """
    size = board_size if board_size is not None else int(getattr(evaluator, "board_size", 9))
    spec = getattr(evaluator, "feature_spec")  # noqa: B009 - protocol attribute
    evaluate = getattr(evaluator, "evaluate")  # noqa: B009
    features = random_features(batch, spec, size, np.random.default_rng(0))
    for _ in range(2):
        evaluate(features)
    calls = 0
    start, cpu_start = time.perf_counter(), time.process_time()
    elapsed = 0.0
    while elapsed < seconds or calls == 0:
        evaluate(features)
        calls += 1
        elapsed = time.perf_counter() - start
    cpu = max(time.process_time() - cpu_start, 1e-9)
    return calls * batch / elapsed, calls * batch / cpu


def measure_training(
    config: NetConfig, batch: int, seconds: float, *, channels_last: bool = True
) -> float:
    """Adam steps per second on random targets (policy CE + value MSE + ownership MSE)."""
    rng = np.random.default_rng(1)
    net = PolicyValueNet(config).train()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.from_numpy(random_features(batch, config.features, config.board_size, rng))
    if channels_last:
        net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        x = x.contiguous(memory_format=torch.channels_last)
    target_policy = torch.softmax(torch.randn(batch, config.num_actions), dim=1)
    target_value = torch.randint(0, 2, (batch,)).float() * 2 - 1
    target_own = torch.randint(0, 2, (batch, config.num_points)).float() * 2 - 1

    def step() -> None:
        out = net(x)
        loss = -(target_policy * F.log_softmax(out.policy_logits, dim=1)).sum(1).mean()
        loss = loss + F.mse_loss(out.value, target_value)
        if out.ownership is not None:
            loss = loss + 0.1 * F.mse_loss(out.ownership, target_own)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()
    steps = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds or steps == 0:
        step()
        steps += 1
        elapsed = time.perf_counter() - start
    return steps / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--size", type=int, default=9)
    parser.add_argument("--history", type=int, default=4)
    for flag in ("liberty-features", "global-pooling", "score-head", "opponent-policy-head"):
        parser.add_argument(f"--{flag}", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--fuse", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--symmetry", choices=SYMMETRY_MODES, default="none")
    parser.add_argument("--train-batch", type=int, default=256, help="0 skips training")
    args = parser.parse_args(argv)

    set_torch_threads(args.threads)
    config = NetConfig(
        board_size=args.size,
        history=args.history,
        blocks=args.blocks,
        channels=args.channels,
        liberty_features=args.liberty_features,
        global_pooling=args.global_pooling,
        score_head=args.score_head,
        opponent_policy_head=args.opponent_policy_head,
    )
    torch.manual_seed(0)
    net = PolicyValueNet(config)
    setup = time.perf_counter()
    evaluator = TorchEvaluator(
        net,
        threads=args.threads,
        channels_last=args.channels_last,
        compile=args.compile,
        fuse=args.fuse,
        symmetry=args.symmetry,
    )
    print(
        f"net {config.describe()}, {net.parameter_count():,} parameters, "
        f"threads {args.threads}, channels_last {args.channels_last}, fuse {args.fuse}, "
        f"compile {args.compile}, symmetry {args.symmetry}, torch {torch.__version__}; "
        f"{config.input_planes} planes, global pooling {config.global_pooling}, "
        f"score head {config.score_head}, opponent policy head {config.opponent_policy_head}"
    )
    print(f"{'batch':>6} {'positions/s':>12} {'ms/call':>9} {'positions/CPU-s':>16}")
    for batch in args.batches:
        rate, cpu_rate = _measure_forward(evaluator, batch, args.seconds)
        print(
            f"{batch:>6} {rate:>12,.0f} {1000 * batch / rate:>9.2f} {cpu_rate:>16,.0f}",
            flush=True,
        )
    if args.compile:
        print(f"(setup including compiles: {time.perf_counter() - setup:.1f} s)")
    if args.train_batch:
        steps = measure_training(
            config, args.train_batch, args.seconds, channels_last=args.channels_last
        )
        print(
            f"training: Adam at batch {args.train_batch}: {steps:.2f} steps/s "
            f"({steps * args.train_batch:,.0f} positions/s)"
        )


if __name__ == "__main__":
    main()
