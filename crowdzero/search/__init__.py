"""Batched tree search: PUCT and Gumbel root search over many games at once.

`BatchedSearcher` runs one tree per game and sends the leaves of all games to one
`Evaluator` call per simulation round; `SearchConfig` holds every knob.
"""

from crowdzero.search.config import SearchConfig, SearchConfigError
from crowdzero.search.evaluator import AreaScoreEvaluator, Evaluator, UniformEvaluator
from crowdzero.search.searcher import BatchedSearcher, SearchError, SearchResult

__all__ = [
    "AreaScoreEvaluator",
    "BatchedSearcher",
    "Evaluator",
    "SearchConfig",
    "SearchConfigError",
    "SearchError",
    "SearchResult",
    "UniformEvaluator",
]
