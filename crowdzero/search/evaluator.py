"""What the search asks of a leaf: "how good is this position, and which moves look good?"

The search never sees a network. It hands feature planes (``batch_features`` of the leaf
positions) to an `Evaluator` and gets back policy logits and a value, so the same tree code
runs on the real network (`crowdzero.net.TorchEvaluator`), on the cheap evaluators below in
the tests, and on anything a benchmark wants to try.

Shapes (B = batch, C = ``feature_spec.planes``, N = board size):
    features  float32 [B, C, N, N]      ``batch_features(positions, evaluator.feature_spec)``
    logits    float32 [B, N*N+1]        unnormalised; the search masks illegal moves itself
    value     float32 [B] in [-1, 1]    the side to move's expected outcome
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from crowdzero.go.features import FeatureSpec

#: The planes the cheap evaluators below read by default: one board, no liberties.
PLAIN_FEATURES = FeatureSpec(history=1, liberties=False)


@runtime_checkable
class Evaluator(Protocol):
    """Policy logits and value for a batch of positions given as feature planes.

    ``feature_spec`` says which planes it reads; the caller builds them with
    ``batch_features(positions, evaluator.feature_spec)``.
    """

    feature_spec: FeatureSpec

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features float32 [B, C, N, N] -> (logits float32 [B, N*N+1], value float32 [B])."""
        ...


def _check_features(features: np.ndarray, spec: FeatureSpec) -> tuple[int, int]:
    """Return (batch, board size) or raise ValueError naming the expected shape."""
    planes = spec.planes
    if features.ndim != 4 or features.shape[1] != planes or features.shape[2] != features.shape[3]:
        raise ValueError(
            f"expected features [B, {planes}, N, N] for {spec.describe()}, "
            f"got {list(features.shape)}"
        )
    return features.shape[0], features.shape[2]


class UniformEvaluator:
    """Every legal move equally likely, every position even: search driven by rules alone.

    With this evaluator only terminal positions carry information, which makes it the
    baseline for tests of the tree mechanics (visit counts, masking, reuse, batching).
    """

    def __init__(self, feature_spec: FeatureSpec = PLAIN_FEATURES) -> None:
        self.feature_spec = feature_spec

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch, size = _check_features(features, self.feature_spec)
        return (
            np.zeros((batch, size * size + 1), np.float32),
            np.zeros(batch, np.float32),
        )


def area_scores(features: np.ndarray, spec: FeatureSpec) -> np.ndarray:
    """Tromp-Taylor area of the side to move minus the opponent's, float32 [B] (no komi).

    A point counts for a colour if it holds that colour's stone, or if it is empty and
    every stone its empty region touches is that colour. The empty regions are grown by
    repeated dilation inside the empty points, all boards of the batch at once.
    """
    own = features[:, 0] > 0.5
    opp = features[:, spec.opponent_plane] > 0.5
    empty = ~(own | opp)

    def reach(colour: np.ndarray) -> np.ndarray:
        grown = np.zeros_like(colour)
        frontier = colour
        while True:
            nxt = np.zeros_like(frontier)
            nxt[:, 1:, :] |= frontier[:, :-1, :]
            nxt[:, :-1, :] |= frontier[:, 1:, :]
            nxt[:, :, 1:] |= frontier[:, :, :-1]
            nxt[:, :, :-1] |= frontier[:, :, 1:]
            nxt &= empty & ~grown
            if not nxt.any():
                return grown
            grown |= nxt
            frontier = nxt

    reach_own = reach(own)
    reach_opp = reach(opp)
    own_area = own | (reach_own & ~reach_opp)
    opp_area = opp | (reach_opp & ~reach_own)
    return (own_area.sum(axis=(1, 2)) - opp_area.sum(axis=(1, 2))).astype(np.float32)


class AreaScoreEvaluator:
    """Uniform priors; value = tanh of the current Tromp-Taylor score for the side to move.

    A cheap stand-in for a trained value head: capturing stones or securing territory
    raises the value at once, so shallow tactics (win a capturing race, save a group in
    atari) are visible to a few dozen simulations. ``komi`` is counted against black;
    the colour plane (all ones when black is to move) says whose view the value is from.
    ``scale`` sets how many points make a position nearly decided.
    """

    def __init__(
        self, komi: float = 0.0, feature_spec: FeatureSpec = PLAIN_FEATURES, scale: float = 4.0
    ) -> None:
        self.feature_spec = feature_spec
        self.komi = komi
        self.scale = scale

    def evaluate(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        batch, size = _check_features(features, self.feature_spec)
        score = area_scores(features, self.feature_spec)
        black_to_play = features[:, self.feature_spec.colour_plane, 0, 0] > 0.5
        score = score - np.where(black_to_play, self.komi, -self.komi)
        return (
            np.zeros((batch, size * size + 1), np.float32),
            np.tanh(score / self.scale).astype(np.float32),
        )
