"""The learning agent as a seat at the board: a network behind a batched tree search.

Every game the agent plays at the same moment is answered by one `BatchedSearcher.search`
call, so the network sees the leaves of all those games in each batch. The search target
and root value travel back in the `MoveChoice`, where the match runner stores them as the
training data of the move.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from crowdzero.go.features import batch_features
from crowdzero.go.position import Position
from crowdzero.players.base import MoveChoice, MoveRequest, Player
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import Evaluator
from crowdzero.search.opponent_model import OpponentModel
from crowdzero.search.searcher import BatchedSearcher, masked_softmax


class AgentPlayer(Player):
    """A network-guided tree search (PUCT or Gumbel, see `SearchConfig`).

    ``add_noise``: True for self-play and crowd training games (root noise, early
    temperature), False for evaluation games and play against people.
    ``opponent_models``: models of opponents by name, for opponent-modelling search
    (needs ``config.opponent_model``; see `crowdzero.search.opponent_model`).
    """

    def __init__(
        self,
        evaluator: Evaluator,
        config: SearchConfig | None = None,
        *,
        name: str = "agent",
        add_noise: bool = True,
        rng: np.random.Generator | None = None,
        opponent_models: Mapping[str, OpponentModel] | None = None,
    ) -> None:
        self.name = name
        self.evaluator = evaluator
        self.add_noise = add_noise
        self.searcher = BatchedSearcher(evaluator, config, rng, opponent_models)

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        """One batched search over every request (each must be a different game)."""
        results = self.searcher.search(requests, add_noise=self.add_noise)
        return [MoveChoice(r.point, r.policy, r.root_value) for r in results]

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return self.select_moves([request])[0]

    def end_game(self, game_id: str) -> None:
        """Drop the game's search tree."""
        self.searcher.forget(game_id)

    def move_distribution(self, position: Position) -> np.ndarray | None:
        """The raw network policy float32 [N*N+1]: softmax of the logits over the legal
        moves, no search (the study compares it with crowd members' moves). None once the
        game is over."""
        if position.is_over:
            return None
        features = batch_features([position], self.evaluator.history)
        logits, _ = self.evaluator.evaluate(features)
        legal = position.legal_mask()[None, :]
        return masked_softmax(logits, legal)[0].astype(np.float32)

    def close(self) -> None:
        self.searcher.close()

    def update_evaluator(self, evaluator: Evaluator) -> None:
        """Use new weights from now on; kept trees hold the old network's values, so
        they are dropped."""
        self.evaluator = evaluator
        self.searcher.evaluator = evaluator
        self.searcher.clear()
