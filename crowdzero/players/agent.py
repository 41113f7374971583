"""The learning agent as a seat at the board: a network behind a batched tree search.

Every game the agent plays at the same moment is answered by one `BatchedSearcher.search`
call, so the network sees the leaves of all those games in each batch. The search target
and root value travel back in the `MoveChoice`, where the match runner stores them as the
training data of the move.

Two things the agent decides per move, on top of the search:

* Playout cap randomisation (KataGo): with noise on (training games), each move is a full
  search with probability ``full_search_fraction``, else a cheap one whose choice carries
  no policy target, only the root value. Without noise every move is a full search.
* Resignation: where the request allows it, the agent resigns once its root value has
  been below ``resign_threshold`` for ``resign_consecutive`` of its own moves in a row
  in that game (`crowdzero.search.resignation.would_resign_at`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence

import numpy as np

from crowdzero.go.coords import RESIGN
from crowdzero.go.features import batch_features
from crowdzero.go.position import Position
from crowdzero.play.player import MoveChoice, MoveRequest, Player
from crowdzero.search.config import SearchConfig
from crowdzero.search.evaluator import Evaluator
from crowdzero.search.opponent_model import OpponentModel
from crowdzero.search.resignation import would_resign_at
from crowdzero.search.searcher import BatchedSearcher, SearchResult, masked_softmax


class AgentPlayer(Player):
    """A network-guided tree search (PUCT or Gumbel, see `SearchConfig`).

    ``add_noise``: True for self-play and crowd training games (root noise, early
    temperature, playout cap randomisation), False for evaluation games and play against
    people (every move a full, noise-free search).
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
        # The agent's last root values per game and colour: in self-play one agent holds
        # both seats of a game, and each seat resigns on its own values.
        self._recent_values: dict[str, dict[int, deque[float]]] = {}

    @property
    def config(self) -> SearchConfig:
        return self.searcher.config

    def select_moves(self, requests: Sequence[MoveRequest]) -> list[MoveChoice]:
        """One batched search over every request (each must be a different game)."""
        cheap = self._draw_cheap(len(requests))
        results = self.searcher.search(requests, add_noise=self.add_noise, cheap=cheap)
        return [self._choice(q, r) for q, r in zip(requests, results, strict=True)]

    def _draw_cheap(self, count: int) -> list[bool] | None:
        """Which moves get a cheap search: each with probability 1 - full_search_fraction,
        in training games only, and only when a cheap search is cheaper. No draw at all
        when every move is full, so a run with the fraction at 1.0 sees the same random
        numbers as before the option existed."""
        c = self.config
        fraction = c.full_search_fraction
        if not self.add_noise or fraction >= 1.0 or c.cheap_budget >= c.simulations:
            return None
        return [bool(u >= fraction) for u in self.searcher.rng.random(count)]

    def _choice(self, request: MoveRequest, result: SearchResult) -> MoveChoice:
        policy = None if result.cheap else result.policy
        if self._resigns(request, result.root_value):
            return MoveChoice(RESIGN, policy, result.root_value)
        return MoveChoice(result.point, policy, result.root_value)

    def _resigns(self, request: MoveRequest, root_value: float) -> bool:
        """Record the move's root value; True when the request allows resigning and the
        rule fires at this move. Values are kept whether or not resigning is allowed."""
        c = self.config
        seats = self._recent_values.setdefault(request.game_id, {})
        colour = request.position.to_play
        recent = seats.setdefault(colour, deque(maxlen=c.resign_consecutive))
        recent.append(root_value)
        if not request.allow_resign:
            return False
        fired = would_resign_at(recent, c.resign_threshold, c.resign_consecutive)
        return fired == c.resign_consecutive - 1

    def select_move(self, request: MoveRequest) -> MoveChoice:
        return self.select_moves([request])[0]

    def end_game(self, game_id: str) -> None:
        """Drop the game's search tree and its resignation history."""
        self.searcher.forget(game_id)
        self._recent_values.pop(game_id, None)

    def move_distribution(self, position: Position) -> np.ndarray | None:
        """The raw network policy float32 [N*N+1]: softmax of the logits over the legal
        moves, no search (the study compares it with crowd members' moves). None once the
        game is over."""
        if position.is_over:
            return None
        features = batch_features([position], self.evaluator.feature_spec)
        logits, _ = self.evaluator.evaluate(features)
        legal = position.legal_mask()[None, :]
        return masked_softmax(logits, legal)[0].astype(np.float32)

    def close(self) -> None:
        self.searcher.close()

    def reseed(self, seed: int | None) -> None:
        """Start the search's random state (noise, sampling, cheap-search draws) and the
        evaluator's symmetries again from `seed`, so a measurement does not depend on
        how many games the agent played before it."""
        self.searcher.rng = np.random.default_rng(seed)
        reseed = getattr(self.evaluator, "reseed", None)  # TorchEvaluator's symmetries
        if reseed is not None:
            reseed(seed)

    def update_evaluator(self, evaluator: Evaluator) -> None:
        """Use new weights from now on; kept trees hold the old network's values, so
        they are dropped."""
        self.evaluator = evaluator
        self.searcher.evaluator = evaluator
        self.searcher.clear()
