"""Batched tree search: PUCT and Gumbel root search over many games at once.

`BatchedSearcher` runs one tree per game and sends the leaves of all games to one
`Evaluator` call per simulation round; `SearchConfig` holds every knob. `OpponentModel`s make the search opponent-modelling
(off by default, see `crowdzero.search.opponent_model`).
"""

from crowdzero.search.config import SearchConfig, SearchConfigError
from crowdzero.search.evaluator import AreaScoreEvaluator, Evaluator, UniformEvaluator
from crowdzero.search.opponent_model import (
    DistributionOpponentModel,
    NetworkOpponentModel,
    OpponentModel,
    OpponentModelError,
)
from crowdzero.search.searcher import BatchedSearcher, SearchError, SearchResult

__all__ = [
    "AreaScoreEvaluator",
    "BatchedSearcher",
    "DistributionOpponentModel",
    "Evaluator",
    "NetworkOpponentModel",
    "OpponentModel",
    "OpponentModelError",
    "SearchConfig",
    "SearchConfigError",
    "SearchError",
    "SearchResult",
    "UniformEvaluator",
]
