"""The corpus's own words, for correcting and suggesting misspelt query words."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


class Lexicon:
    """Surface words of the corpus with their frequencies, bucketed by first letter.

    Typos rarely hit the first letter, and the bucket keeps a lookup to a few thousand
    comparisons even for a large corpus.
    """

    def __init__(self, words: Sequence[str], counts: Sequence[int]) -> None:
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
        """The likeliest intended corpus word for an unknown ``word``, if one is close."""
        if not _MIN_CORRECTABLE <= len(word) <= _MAX_WORD or not word.isalpha():
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
