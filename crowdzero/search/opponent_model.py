"""Models of the opponent for opponent-modelling search ("victim play").

The agent's search normally assumes its opponent plays like the agent: at every node,
whoever is to move, the prior comes from the agent's own policy. Against a crowd member
that is a poor guess, since the member is weaker and plays differently. Adversarial-policy
work on Go (Wang et al. 2023, the attacks on KataGo) searched with a model of the victim
at the victim's nodes instead, and that is how it found the victim's blind spots. With
``SearchConfig(opponent_model=True)`` and an `OpponentModel` registered for the game's
opponent, `BatchedSearcher` does the same: the priors of the nodes where the opponent is
to move come from the model, while every leaf's value still comes from the agent's
network (a model of the opponent's moves says nothing about who is winning).

Two models:

* `NetworkOpponentModel`: the *learned* model, a policy network trained by supervised
  learning on one member's moves from a run's game store
  (`crowdzero.analysis.study.opponent_modelling.train_opponent_model`). This is the
  variant the study uses: it needs nothing but the games the agent already played.
* `DistributionOpponentModel`: the *oracle*, the member's own `move_distribution`. It is
  exact where it exists (random movers, heuristics), so it is what tests and analyses use
  to separate "what opponent modelling can gain at best" from "how good the learned model
  is". It is not something an agent could have against an unknown opponent.

Shapes (B = positions asked, A = N*N + 1 actions, pass last):
    policy_logits(positions) -> float [B, A]  log-probabilities or unnormalised logits;
                                             the searcher masks illegal moves itself
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from crowdzero.go.features import batch_features
from crowdzero.go.position import Position
from crowdzero.play.player import Player
from crowdzero.search.evaluator import Evaluator

#: Probability floor of `DistributionOpponentModel`: a move the member never plays gets
#: log(1e-12) instead of -inf, so a distribution that is zero on every legal move (a
#: member with nothing to say) becomes uniform rather than undefined.
PROBABILITY_FLOOR = 1e-12


class OpponentModelError(RuntimeError):
    """An opponent model cannot answer (a player without a move distribution...)."""


@runtime_checkable
class OpponentModel(Protocol):
    """How likely the modelled opponent is to play each move, in each position."""

    def policy_logits(self, positions: Sequence[Position]) -> np.ndarray:
        """float [B, N*N+1] for a non-empty batch of positions of one board size (the
        opponent to move in each): log-probabilities or logits, illegal moves ignored."""
        ...


class NetworkOpponentModel:
    """The learned model: the policy head of a network trained on the opponent's moves.

    ``evaluator`` is any `Evaluator` (usually a `TorchEvaluator` of a checkpoint written
    by `train_opponent_model`); its value output is ignored. It computes its own feature
    planes (its own `feature_spec`), so they need not match the agent's network.
    """

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator

    def policy_logits(self, positions: Sequence[Position]) -> np.ndarray:
        logits, _ = self.evaluator.evaluate(batch_features(positions, self.evaluator.feature_spec))
        return logits


class DistributionOpponentModel:
    """The oracle model: the opponent's own `Player.move_distribution` (analysis and
    tests only: it reads the member's mind, which a learned model has to earn).

    Raises OpponentModelError when the player has no distribution (GnuGo, Pachi): such
    members need a `NetworkOpponentModel`.
    """

    def __init__(self, player: Player) -> None:
        self.player = player

    def policy_logits(self, positions: Sequence[Position]) -> np.ndarray:
        rows = []
        for position in positions:
            distribution = self.player.move_distribution(position)
            if distribution is None:
                raise OpponentModelError(
                    f"{self.player.name} has no move distribution; model it with a "
                    "NetworkOpponentModel trained on its games instead"
                )
            rows.append(np.log(np.maximum(np.asarray(distribution, np.float64), PROBABILITY_FLOOR)))
        return np.stack(rows).astype(np.float32)
