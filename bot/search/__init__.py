"""Passage search over the inquiry's documents (see :mod:`bot.search.index`)."""

from bot.search.index import Hit, SearchIndex, SearchResult
from bot.search.tables import SearchSettings
from bot.search.text import Passage, split_passages, tokenize

__all__ = [
    "Hit",
    "Passage",
    "SearchIndex",
    "SearchResult",
    "SearchSettings",
    "split_passages",
    "tokenize",
]
