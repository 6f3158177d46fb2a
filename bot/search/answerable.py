"""Whether the passages found answer the question, or the documents are silent on it.

Search always finds the nearest passages; presenting them as the answer to a question the
documents never address misleads ("What did Sadiq Khan say?" answered with someone else's
words). Two kinds of evidence say a question is outside the documents: a name it asks
about appears nowhere in them, or nothing scores near what real answers score. Either
way the reply names what the documents lack when it can: the name, or the question's
less common words that occur nowhere in them ("speeding tickets").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.search.text import fold

# Calibrated on the development questions (bench/eval_search.py prints the effect).
COSINE_FLOOR = 0.80  # below this nothing in the documents is about the question
COSINE_UNSURE = 0.815  # ... nor below this when some of its words occur nowhere in them
COSINE_DOUBTFUL = 0.85  # ... nor below this when most of its words occur nowhere in them
MOSTLY_UNKNOWN = 0.5  # share of a question's content words the documents lack
# Words this common in English (Zipf 5: "still", "online", "cut") say little about what a
# question is about; rarer ones the documents lack are named when it is declined.
TOPIC_ZIPF = 5.0
_MAX_NAMED = 3
# Words about asking, not about the topic: "does the report mention X?"
_ASKING = frozenset(
    "mention mentioned mentions happen happened happening comment commented comments "
    "discuss discussed talk talked tell told explain explained cover covered address "
    "addressed deal dealt anything something".split()
)

_CAPITALISED_RE = re.compile(r"[A-Z][\w'’-]*")
_PARTICLES = frozenset("de da di del van von der al bin le la du".split())


@dataclass(frozen=True)
class Evidence:
    """What the retrievers saw: the best cosine of a passage to the question (None when
    the semantic retriever did not run)."""

    cosine: float | None = None


@dataclass(frozen=True)
class Verdict:
    answered: bool
    missing: tuple[str, ...] = ()  # what the documents don't mention, as the reader wrote it


def judge(
    text: str,
    words: Sequence[str],
    missing: Sequence[str],
    evidence: Evidence,
    *,
    semantic: bool,
    zipf: Callable[[str], float | None] = lambda word: None,
) -> Verdict:
    """Whether the passages found answer ``text``; ``missing`` are its content words the
    documents do not contain (after spelling correction); ``zipf`` says how common a word
    is in English (None when unknown)."""
    names = missing_names(text, missing)
    if names:
        return Verdict(False, names)
    if not words or not semantic or evidence.cosine is None:
        return Verdict(True)
    unknown_share = len(missing) / len(words)
    if (
        evidence.cosine < COSINE_FLOOR
        or (missing and evidence.cosine < COSINE_UNSURE)
        or (unknown_share >= MOSTLY_UNKNOWN and evidence.cosine < COSINE_DOUBTFUL)
    ):
        return Verdict(False, absent_topics(text, missing, zipf))
    return Verdict(True)


def absent_topics(
    text: str, missing: Sequence[str], zipf: Callable[[str], float | None]
) -> tuple[str, ...]:
    """The less common words of ``text`` the documents lack, neighbours joined as typed
    ("speeding tickets"); numbers and codes are not named. Empty when none, or when how
    common words are is unknown: the reply then quotes the question."""
    absent = {_plain(word) for word in missing}
    phrases: list[list[str]] = []
    previous_end = -1
    for match in re.finditer(r"[\w'’-]+", text):
        word = match.group()
        plain = _plain(word)
        wordlike = plain.replace("'", "").replace("-", "").isalpha()  # not "123", "x2"
        rarity = zipf(plain) if wordlike and plain in absent and plain not in _ASKING else None
        if rarity is None or rarity >= TOPIC_ZIPF:
            previous_end = -1
            continue
        if previous_end >= 0 and not text[previous_end : match.start()].strip():
            phrases[-1].append(word)
        else:
            phrases.append([word])
        previous_end = match.end()
    return tuple(dict.fromkeys(" ".join(phrase) for phrase in phrases))[:_MAX_NAMED]


def missing_names(text: str, missing: Sequence[str]) -> tuple[str, ...]:
    """Names in ``text`` (capitalised runs like "Diane Abbott") holding a word the
    documents lack. A capital at the start of a sentence alone is not a name."""
    absent = {_plain(word) for word in missing}
    if not absent:
        return ()
    names: list[str] = []
    for run in _capitalised_runs(text):
        if run and run[0][1] and _plain(run[0][0]) not in absent:
            run = run[1:]  # "Has Diane Abbott …": the sentence's first word is no name
        words = [word for word, _ in run if word not in _PARTICLES]
        if not any(_plain(word) in absent for word in words):
            continue
        if run[0][1] and len(words) < 2:
            continue
        names.append(" ".join(word for word, _ in run))
    return tuple(dict.fromkeys(names))


def _plain(word: str) -> str:
    word = fold(word).lower()
    return word[:-2] if word.endswith("'s") else word


def _capitalised_runs(text: str) -> list[list[tuple[str, bool]]]:
    """Runs of capitalised words (each with whether it starts a sentence), with
    "de"/"van"-style particles inside them."""
    runs: list[list[tuple[str, bool]]] = []
    current: list[tuple[str, bool]] = []
    previous_end = -1
    for match in re.finditer(r"[\w'’-]+", text):
        token = match.group()
        gap = text[max(previous_end, 0) : match.start()]
        initial = previous_end < 0 or any(mark in gap for mark in ".!?")
        previous_end = match.end()
        if _CAPITALISED_RE.fullmatch(token):
            current.append((token, initial))
        elif current and token in _PARTICLES:
            current.append((token, False))
        else:
            runs.append(_closed(current))
            current = []
    runs.append(_closed(current))
    return [run for run in runs if run]


def _closed(run: list[tuple[str, bool]]) -> list[tuple[str, bool]]:
    while run and run[-1][0] in _PARTICLES:
        run = run[:-1]
    return run
