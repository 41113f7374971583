"""Batched tree search: PUCT and Gumbel root search over many games at once."""

from crowdzero.search.config import SearchConfig, SearchConfigError

__all__ = ["SearchConfig", "SearchConfigError"]
