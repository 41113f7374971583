"""TorchEvaluator: the network behind the search's ``Evaluator`` protocol (numpy in and out).

The search calls ``evaluate`` hundreds of times a second, so everything that can be decided
once is decided in ``__init__``: eval mode, batch norms folded into the convolutions, memory
format, thread count, optional ``torch.compile``. A call is then one tensor wrap, one forward
pass under ``torch.inference_mode`` and two ``.numpy()`` views.

``evaluate`` gives what the search needs (policy and value); ``predict`` gives every head
the net has (ownership, score margin, the opponent's reply) for analysis.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from crowdzero.go.features import FeatureSpec
from crowdzero.net.checkpoint import PathLike, load_checkpoint
from crowdzero.net.model import NetConfig, NetOutput, PolicyValueNet
from crowdzero.net.symmetry import (
    INVERSE,
    SYMMETRIES,
    transform_planes,
    transform_points,
    transform_policy,
)

SymmetryMode = Literal["none", "random", "average"]
SYMMETRY_MODES: tuple[str, ...] = ("none", "random", "average")
DEFAULT_THREADS = 2


@dataclass(frozen=True)
class NetPrediction:
    """Every head's answer for a batch, as numpy arrays in board orientation.

    policy_logits           float32 [B, N*N+1]
    value                   float32 [B] in [-1, 1], the side to move's expected outcome
    ownership               float32 [B, N*N] in [-1, 1] (+1: the side to move's) | None
    score_margin            float32 [B]: the final area margin in points (komi included)
                            from the side to move's view, ``score * score_scale`` | None
    opponent_policy_logits  float32 [B, N*N+1]: the opponent's reply to the side to move's
                            move | None

    A field is None when the net has no such head. With symmetry "average" the policies
    are log-probabilities (log of the mean probability over the 8 symmetries).
    """

    policy_logits: np.ndarray
    value: np.ndarray
    ownership: np.ndarray | None
    score_margin: np.ndarray | None
    opponent_policy_logits: np.ndarray | None


def set_torch_threads(threads: int) -> None:
    """Set torch's intra-op thread count, only if it differs (the call is process-wide)."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


class TorchEvaluator:
    """Evaluate feature planes with a PolicyValueNet on the CPU.

    ``symmetry``: "none" evaluates the board as given; "random" picks one of the 8 board
    symmetries per call and maps the policy back (AlphaZero's trick to average out the net's
    orientation biases over a search); "average" evaluates all 8 in one batch (8x the cost)
    and returns the mean value and the log of the mean policy probabilities.
    """

    def __init__(
        self,
        model: PolicyValueNet,
        *,
        threads: int | None = DEFAULT_THREADS,
        channels_last: bool = True,
        compile: bool = False,
        fuse: bool = True,
        symmetry: SymmetryMode = "none",
        seed: int | None = None,
    ) -> None:
        if symmetry not in SYMMETRY_MODES:
            raise ValueError(
                f"symmetry must be one of {', '.join(SYMMETRY_MODES)}, not {symmetry!r}"
            )
        if threads is not None:
            set_torch_threads(threads)
        self.config: NetConfig = model.config
        # The planes this net reads: callers build them with batch_features(..., spec).
        self.feature_spec: FeatureSpec = model.config.features
        self.board_size: int = model.config.board_size
        self.symmetry: SymmetryMode = symmetry
        self.channels_last = channels_last
        self._rng = np.random.default_rng(seed)
        # The evaluator owns its own copy: later training of ``model`` does not leak in.
        net = model.fused() if fuse else PolicyValueNet(model.config)
        if not fuse:
            net.load_state_dict(model.state_dict())
        net = net.cpu().eval()
        for p in net.parameters():
            p.requires_grad_(False)
        if channels_last:
            net = net.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.net = net
        self._forward: Callable[[torch.Tensor], NetOutput] = torch.compile(net) if compile else net
        self._shape = (model.config.input_planes, self.board_size, self.board_size)

    def reseed(self, seed: int | None) -> None:
        """Draw the random symmetries from `seed` again, as if just built: a measurement
        made after games were played then sees the same symmetries as one made first."""
        self._rng = np.random.default_rng(seed)

    def _to_tensor(self, features: np.ndarray) -> torch.Tensor:
        if features.ndim != 4 or features.shape[1:] != self._shape:
            c, n, _ = self._shape
            raise ValueError(
                f"expected features [B, {c}, {n}, {n}] ({self.feature_spec.describe()}, {n}x{n}), "
                f"got {list(features.shape)}"
            )
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def _run(self, x: torch.Tensor) -> NetOutput:
        if self.channels_last and not x.is_contiguous(memory_format=torch.channels_last):
            x = x.contiguous(memory_format=torch.channels_last)
        return self._forward(x)

    def _outputs(self, features: np.ndarray) -> NetOutput:
        x = self._to_tensor(features)
        if self.symmetry == "none":
            return self._run(x)
        if self.symmetry == "random":
            s = int(self._rng.integers(len(SYMMETRIES)))
            if s == 0:
                return self._run(x)
            out = self._run(transform_planes(x, s))
            back = INVERSE[s]
            return NetOutput(
                transform_policy(out.policy_logits, back),
                out.value,
                None if out.ownership is None else transform_points(out.ownership, back),
                out.score,
                None
                if out.opponent_policy_logits is None
                else transform_policy(out.opponent_policy_logits, back),
            )
        return self._average(x)

    def _average(self, x: torch.Tensor) -> NetOutput:
        batch = x.shape[0]
        count = len(SYMMETRIES)
        out = self._run(torch.cat([transform_planes(x, s) for s in SYMMETRIES]))
        points = out.policy_logits.shape[1] - 1

        def mean_policy(logits: torch.Tensor) -> torch.Tensor:
            log_p = F.log_softmax(logits, dim=1).view(count, batch, points + 1)
            log_p = torch.stack([transform_policy(log_p[s], INVERSE[s]) for s in SYMMETRIES])
            return torch.logsumexp(log_p, dim=0) - math.log(count)

        ownership = None
        if out.ownership is not None:
            own = out.ownership.view(count, batch, points)
            ownership = torch.stack([transform_points(own[s], INVERSE[s]) for s in SYMMETRIES])
            ownership = ownership.mean(0)
        return NetOutput(
            mean_policy(out.policy_logits),
            out.value.view(count, batch).mean(dim=0),
            ownership,
            None if out.score is None else out.score.view(count, batch).mean(dim=0),
            None if out.opponent_policy_logits is None else mean_policy(out.opponent_policy_logits),
        )

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features float32 [B, C, N, N] -> (policy logits float32 [B, N*N+1],
        value float32 [B] in [-1, 1] from the side to move's view)."""
        with torch.inference_mode():
            out = self._outputs(features)
            return out.policy_logits.numpy(), out.value.numpy()

    def evaluate_with_ownership(
        self, features: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Like ``evaluate`` plus the ownership map float32 [B, N*N] (None without the head)."""
        with torch.inference_mode():
            out = self._outputs(features)
            own = None if out.ownership is None else out.ownership.numpy()
            return out.policy_logits.numpy(), out.value.numpy(), own

    def predict(self, features: np.ndarray) -> NetPrediction:
        """Every head's answer for features float32 [B, C, N, N] (see `NetPrediction`)."""
        with torch.inference_mode():
            out = self._outputs(features)
            score = None
            if out.score is not None:
                score = (out.score * self.config.score_scale).numpy()
            return NetPrediction(
                policy_logits=out.policy_logits.numpy(),
                value=out.value.numpy(),
                ownership=None if out.ownership is None else out.ownership.numpy(),
                score_margin=score,
                opponent_policy_logits=None
                if out.opponent_policy_logits is None
                else out.opponent_policy_logits.numpy(),
            )


def load_evaluator(
    checkpoint_path: PathLike,
    *,
    board_size: int | None = None,
    threads: int | None = DEFAULT_THREADS,
    channels_last: bool = True,
    compile: bool = False,
    symmetry: SymmetryMode = "none",
    seed: int | None = None,
) -> TorchEvaluator:
    """A TorchEvaluator for a checkpoint file (raises CheckpointError if it is unusable)."""
    checkpoint = load_checkpoint(checkpoint_path, board_size=board_size)
    return TorchEvaluator(
        checkpoint.build_model(),
        threads=threads,
        channels_last=channels_last,
        compile=compile,
        symmetry=symmetry,
        seed=seed,
    )
