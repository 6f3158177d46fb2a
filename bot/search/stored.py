"""Passages as the search cache keeps them: offsets into their documents' text.

Most passages are a stretch of their document's text exactly as it stands, so the cache
records where each one starts and how long it is, and keeps the text itself only for the
few that are not (wrapped lines joined, a heading joined to its paragraph). Loaded back,
a passage is made only when something asks for it: a restart on 100,000 passages does not
build 100,000 objects before its first reply.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from bot.model import Document
from bot.search.text import Passage

IntArray = npt.NDArray[np.int64]


class StoredError(Exception):
    """The stored passages disagree with themselves or with the documents."""


def blob(texts: Sequence[str]) -> tuple[npt.NDArray[np.uint8], IntArray]:
    """Texts as one UTF-8 array and their end offsets (in characters): fast to reload."""
    joined = "".join(texts).encode("utf-8", "surrogatepass")
    ends = np.cumsum([len(t) for t in texts], dtype=np.int64)
    return np.frombuffer(joined, dtype=np.uint8), ends


def unblob(array: npt.NDArray[Any], ends: IntArray) -> list[str]:
    joined = array.tobytes().decode("utf-8", "surrogatepass")
    if len(ends) != 0 and (int(ends[-1]) != len(joined) or bool(np.any(np.diff(ends) < 0))):
        raise StoredError("stored passage texts are inconsistent")
    bounds = [0, *ends.tolist()]
    return [joined[start:end] for start, end in zip(bounds, bounds[1:], strict=False)]


def passage_arrays(
    documents: Sequence[Document], passages: Sequence[Passage]
) -> dict[str, Any]:
    """The arrays :class:`StoredPassages` is loaded from, by name (for ``np.savez``)."""
    position = {doc.id: number for number, doc in enumerate(documents)}
    owners = [position[p.document_id] for p in passages]
    in_place = [
        documents[owner].text.startswith(p.text, p.start)
        for owner, p in zip(owners, passages, strict=True)
    ]
    copied = [p.text for p, kept in zip(passages, in_place, strict=True) if not kept]
    texts, text_ends = blob(copied)
    led = [p for p in passages if p.lead_in]
    leads, lead_ends = blob([p.lead_in for p in led])
    return {
        "passage_document": np.array(owners, dtype=np.int64),
        "passage_start": np.array([p.start for p in passages], dtype=np.int64),
        "passage_length": np.array([len(p.text) for p in passages], dtype=np.int64),
        "passage_in_place": np.array(in_place, dtype=np.bool_),
        "passage_text": texts,
        "passage_text_ends": text_ends,
        "passage_led": np.array([p.id for p in led], dtype=np.int64),
        "passage_lead": leads,
        "passage_lead_ends": lead_ends,
    }


class StoredPassages(Sequence[Passage]):
    """The passages of a loaded index, each made the first time it is asked for."""

    def __init__(self, documents: Sequence[Document], stored: Any) -> None:
        owners = np.asarray(stored["passage_document"], dtype=np.int64)
        starts = np.asarray(stored["passage_start"], dtype=np.int64)
        lengths = np.asarray(stored["passage_length"], dtype=np.int64)
        in_place = np.asarray(stored["passage_in_place"], dtype=np.bool_)
        copies = unblob(stored["passage_text"], stored["passage_text_ends"])
        led = np.asarray(stored["passage_led"], dtype=np.int64)
        leads = unblob(stored["passage_lead"], stored["passage_lead_ends"])
        _check(documents, owners, starts, lengths, in_place, len(copies), led, len(leads))
        self._documents = tuple(documents)
        self._owners = owners
        self._starts = starts
        self._lengths = lengths
        # For a passage not found in place, which of ``copies`` holds its text (else -1).
        self._copy = np.where(in_place, -1, np.cumsum(~in_place) - 1)
        self._copies = copies
        self._leads = dict(zip(led.tolist(), leads, strict=True))
        self._made: list[Passage | None] = [None] * len(owners)

    def __len__(self) -> int:
        return len(self._made)

    @overload
    def __getitem__(self, index: int) -> Passage: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Passage]: ...

    def __getitem__(self, index: int | slice) -> Passage | Sequence[Passage]:
        if isinstance(index, slice):
            return tuple(self[n] for n in range(*index.indices(len(self))))
        passage = self._made[index]  # IndexError past the end, as a tuple would raise
        if passage is None:
            number = index % len(self._made)
            # Two threads may make the same passage at once: both make equal ones.
            passage = self._made[number] = self._make(number)
        return passage

    def __iter__(self) -> Iterator[Passage]:
        return (self[n] for n in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]  # a sequence compared by content

    def _make(self, number: int) -> Passage:
        doc = self._documents[int(self._owners[number])]
        start = int(self._starts[number])
        copy = int(self._copy[number])
        if copy < 0:
            text = doc.text[start : start + int(self._lengths[number])]
        else:
            text = self._copies[copy]
        section = doc.section_at(start) if doc.sections else None
        return Passage(number, doc.id, text, section, start, self._leads.get(number, ""))


def _check(
    documents: Sequence[Document],
    owners: IntArray,
    starts: IntArray,
    lengths: IntArray,
    in_place: npt.NDArray[np.bool_],
    copies: int,
    led: IntArray,
    leads: int,
) -> None:
    """Reject stored passages that could not have been saved from these documents."""
    count = len(owners)
    if not len(starts) == len(lengths) == len(in_place) == count or len(led) != leads:
        raise StoredError("stored passages are inconsistent")
    if count == 0:
        if copies or leads:
            raise StoredError("stored passages are inconsistent")
        return
    if int(owners.min()) < 0 or int(owners.max()) >= len(documents):
        raise StoredError("stored passage names an unknown document")
    sizes = np.array([len(doc.text) for doc in documents], dtype=np.int64)
    ends = starts + lengths
    fits = (starts >= 0) & (lengths >= 0) & (~in_place | (ends <= sizes[owners]))
    if not bool(fits.all()) or int(np.count_nonzero(~in_place)) != copies:
        raise StoredError("stored passages do not fit their documents")
    if leads and (int(led.min()) < 0 or int(led.max()) >= count):
        raise StoredError("stored lead-ins name unknown passages")
