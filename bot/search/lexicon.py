"""The corpus's own words, for correcting and suggesting misspelt query words, and how
common a word is in English at large (to tell a typo from a word the documents lack)."""

from __future__ import annotations

import gzip
import importlib.util
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

# A word this common in English (Zipf scale: 3 is once per million words, "plate" 4.6,
# "drones" 3.8) is what the reader meant, never a typo to "correct" to a corpus word.
COMMON_ZIPF = 3.0

_MIN_CORRECTABLE = 4  # "teh" is too short to guess from
_MAX_SUGGESTIONS = 5
_MAX_WORD = 40  # longer "words" are pasted junk, not typos


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal-string-alignment distance (swaps count once), or ``limit + 1`` if over it."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            best = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                best = min(best, before[j - 2] + 1)
            current[j] = best
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[-1]


def _shared_prefix(a: str, b: str) -> int:
    length = 0
    for char_a, char_b in zip(a, b, strict=False):
        if char_a != char_b:
            break
        length += 1
    return length


class English:
    """How common English words are, from the ``wordfreq`` package's small English list
    (about 29,000 words down to Zipf 3, shipped inside its wheel).

    Loaded on first use (about 40 ms, 3 MB, once a process: indexes share it), so a bot
    whose questions never hold an unknown word never pays for it. Without the package
    every answer is None and callers behave as before they knew English.
    """

    def __init__(self, source: Path | None = None) -> None:
        self._source = source
        self._zipf: dict[str, float] | None = None
        self._failed = False
        self._lock = threading.Lock()

    def zipf(self, word: str) -> float | None:
        """``word``'s Zipf frequency (0.0 when rarer than the list goes, or no word at
        all), or None when the word list is not available."""
        table = self._zipf if self._zipf is not None else self._load()
        return None if table is None else table.get(word, 0.0)

    def is_common(self, word: str) -> bool:
        zipf = self.zipf(word)
        return zipf is not None and zipf >= COMMON_ZIPF

    def _load(self) -> dict[str, float] | None:
        with self._lock:
            if self._zipf is None and not self._failed:
                try:
                    self._zipf = _shared_zipf(self._source or _wordfreq_small_english())
                except (OSError, ValueError, ImportError) as error:
                    self._failed = True
                    logger.warning(
                        "English word frequencies unavailable (%s): spelling correction "
                        "and declining work from the documents' words alone",
                        error,
                    )
            return self._zipf


def _wordfreq_small_english() -> Path:
    """The data file inside the installed wordfreq package, found without importing it
    (its import pulls in ftfy, langcodes and regex: 0.2 s for one dictionary)."""
    spec = importlib.util.find_spec("wordfreq")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the wordfreq package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "small_en.msgpack.gz"


# One read-only table per file for the process: every inquiry's index shares it.
_TABLES: dict[Path, dict[str, float]] = {}
_TABLES_LOCK = threading.Lock()


def _shared_zipf(path: Path) -> dict[str, float]:
    with _TABLES_LOCK:
        table = _TABLES.get(path)
        if table is None:
            table = _TABLES[path] = _read_zipf(path)
        return table


def _read_zipf(path: Path) -> dict[str, float]:
    """Word -> Zipf frequency from a wordfreq "cBpack" file: a header, then lists of words
    by frequency band, band ``i`` holding the words at ``-i`` centibels (10^(-i/100))."""
    import msgpack  # only wordfreq's data needs it

    with gzip.open(path, "rb") as stream:
        data = msgpack.unpackb(stream.read(), raw=False)
    if not data or data[0] != {"format": "cB", "version": 1}:
        raise ValueError(f"{path} is not a wordfreq cB file (header {data[:1]!r})")
    zipf: dict[str, float] = {}
    for band, words in enumerate(data[1:]):
        for word in words:
            zipf.setdefault(word, round(9.0 - band / 100, 2))
    return zipf


class Lexicon:
    """Surface words of the corpus with their frequencies, bucketed by first letter.

    Typos rarely hit the first letter, and the bucket keeps a lookup to a few thousand
    comparisons even for a large corpus.
    """

    def __init__(
        self, words: Sequence[str], counts: Sequence[int], english: English | None = None
    ) -> None:
        self._english = english
        self._words = tuple(words)
        self._counts = dict(zip(words, counts, strict=True))
        self._buckets: dict[str, list[str]] = {}
        for word in self._words:
            self._buckets.setdefault(word[0], []).append(word)

    @property
    def words(self) -> tuple[str, ...]:
        return self._words

    def counts(self) -> list[int]:
        return [self._counts[word] for word in self._words]

    def __contains__(self, word: object) -> bool:
        return word in self._counts

    def correction(self, word: str) -> str | None:
        """The likeliest intended corpus word for an unknown ``word``, if one is close.

        A common English word is taken as meant: "cars" is not a typo of "card"."""
        if not _MIN_CORRECTABLE <= len(word) <= _MAX_WORD or not word.isalpha():
            return None
        if self._english is not None and self._english.is_common(word):
            return None
        limit = 1 if len(word) < 8 else 2
        ranked = self._ranked(word, limit, prefix=len(word) + 1)
        return ranked[0] if ranked else None

    def suggestions(self, words: Iterable[str]) -> tuple[str, ...]:
        """Up to five corpus words near the given unknown words, closest first."""
        found: list[str] = []
        for word in words:
            if not word.isalpha() or not 3 <= len(word) <= _MAX_WORD:
                continue
            limit = max(2, len(word) // 3)
            for candidate in self._ranked(word, limit, prefix=min(len(word), 4)):
                if candidate not in found:
                    found.append(candidate)
        return tuple(found[:_MAX_SUGGESTIONS])

    def _ranked(self, word: str, limit: int, prefix: int) -> list[str]:
        """Bucket words within ``limit`` edits or sharing a ``prefix``-long start."""
        scored: list[tuple[int, int, str]] = []
        for candidate in self._buckets.get(word[0], ()):
            if candidate == word:
                continue
            distance = edit_distance(word, candidate, limit)
            if distance > limit and _shared_prefix(word, candidate) < prefix:
                continue
            scored.append((distance, -self._counts[candidate], candidate))
        scored.sort()
        return [candidate for _, _, candidate in scored[:_MAX_SUGGESTIONS]]
