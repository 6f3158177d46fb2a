"""Every inquiry the bot serves: found at start-up, each loaded the first time it is needed.

Start-up reads only each folder's ``inquiry.json`` (and the report's metadata, for a folder
without one), so it does not grow with the number of inquiries. An inquiry's documents,
structure and search index are loaded on first use, in a worker thread so other chats keep
getting answers meanwhile, and kept for the life of the process.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.documents import CorpusError
from bot.errors import ConfigError, UserInputError
from bot.inquiries.model import INQUIRY_FILE, Inquiry, document_files, normalise_name, read_inquiry
from bot.model import Corpus

if TYPE_CHECKING:
    from bot.search import SearchIndex

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedInquiry:
    inquiry: Inquiry
    corpus: Corpus
    index: SearchIndex


Loader = Callable[[Inquiry], LoadedInquiry]


def discover(corpus_dir: Path, stored_names: Iterable[str] = ()) -> list[Inquiry]:
    """The inquiries under ``corpus_dir``, by name: one per subfolder holding documents or an
    ``inquiry.json``, or the folder itself when it has none. ``stored_names`` are inquiries
    that only have documents added with ``ingest`` (no folder)."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"the documents folder {corpus_dir} does not exist")
    folders = [
        d
        for d in sorted(corpus_dir.iterdir())
        if d.is_dir()
        and not d.name.startswith((".", "_"))
        and ((d / INQUIRY_FILE).is_file() or document_files(d))
    ]
    if not folders:
        found = [read_inquiry(corpus_dir)]
    elif document_files(corpus_dir):
        raise CorpusError(
            f"{corpus_dir} holds both documents and inquiry folders ({folders[0].name}, ...). "
            "Move the documents into a folder of their own, one folder per inquiry."
        )
    else:
        found = [read_inquiry(folder) for folder in folders]
    by_name: dict[str, Inquiry] = {}
    for inquiry in found:
        twin = by_name.get(inquiry.name)
        if twin is not None:
            raise CorpusError(
                f"two inquiries are named {inquiry.name!r}: {twin.folder} and {inquiry.folder}"
            )
        by_name[inquiry.name] = inquiry
    for name in stored_names:
        if name and name not in by_name:
            by_name[name] = Inquiry(name=name, title=name)
    return sorted(by_name.values(), key=lambda i: i.name)


class Catalogue:
    """The inquiries, the deployment's default, and each one's documents once loaded."""

    def __init__(
        self, inquiries: Sequence[Inquiry], loader: Loader, default: str | None = None
    ) -> None:
        if not inquiries:
            raise ConfigError("there are no inquiries to serve")
        self._by_name = {i.name: i for i in sorted(inquiries, key=lambda i: i.name)}
        self.default = self._pick_default(default)
        self._loader = loader
        self._loaded: dict[str, LoadedInquiry] = {}
        self._locks = {name: threading.Lock() for name in self._by_name}

    def _pick_default(self, wanted: str | None) -> Inquiry:
        if wanted and wanted.strip():
            found = self._by_name.get(normalise_name(wanted))
            if found is None:
                raise ConfigError(
                    f"INQUIRY_BOT_DEFAULT_INQUIRY is {wanted!r}, which is not one of the "
                    f"inquiries: {', '.join(self._by_name)}"
                )
            return found
        return next(iter(self._by_name.values()))  # the only one, or the first by name

    def __len__(self) -> int:
        return len(self._by_name)

    def __iter__(self) -> Iterator[Inquiry]:
        return iter(self._by_name.values())

    @property
    def several(self) -> bool:
        return len(self._by_name) > 1

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    def get(self, name: str) -> Inquiry | None:
        return self._by_name.get(name)

    def resolve(self, name: str | None) -> Inquiry:
        """A stored inquiry name as an inquiry: the default when unset or no longer served."""
        return self._by_name.get(name or "") or self.default

    # -- matching what a reader typed

    def find(self, typed: str) -> Inquiry:
        """The inquiry a reader means, matched forgivingly; a wrong name gets suggestions."""
        found = self.match(typed)
        if found is not None:
            return found
        shown = typed.strip() if len(typed.strip()) <= 40 else typed.strip()[:40] + "…"
        close = self.suggestions(typed)
        hint = (
            f" Did you mean {' or '.join(close)}?"
            if close
            else f" The inquiries are: {', '.join(self._by_name)}."
        )
        raise UserInputError(f"There is no inquiry called “{shown}”.{hint} /inquiries lists them.")

    def match(self, typed: str) -> Inquiry | None:
        key = normalise_name(typed)
        if not key:
            return None
        exact = self._by_name.get(key)
        if exact is not None:
            return exact
        prefixed = [i for n, i in self._by_name.items() if n.startswith(key)]
        if len(prefixed) == 1:
            return prefixed[0]
        words = typed.casefold().split()
        titled = [i for i in self if all(w in i.title.casefold() for w in words)]
        if len(titled) == 1:
            return titled[0]
        close = difflib.get_close_matches(key, list(self._by_name), n=2, cutoff=0.8)
        return self._by_name[close[0]] if len(close) == 1 else None

    def suggestions(self, typed: str) -> list[str]:
        return difflib.get_close_matches(
            normalise_name(typed), list(self._by_name), n=3, cutoff=0.5
        )

    # -- loading

    def loaded(self, name: str) -> LoadedInquiry | None:
        return self._loaded.get(name)

    def load_now(self, inquiry: Inquiry) -> LoadedInquiry:
        """The inquiry's documents and index, loading them if this is the first time."""
        found = self._loaded.get(inquiry.name)
        if found is not None:
            return found
        with self._locks[inquiry.name]:  # two chats asking at once load it once
            found = self._loaded.get(inquiry.name)
            if found is None:
                found = self._loader(inquiry)
                self._loaded[inquiry.name] = found
                logger.info(
                    "loaded inquiry %s: %d documents, %d passages",
                    inquiry.name,
                    len(found.corpus.documents),
                    len(found.index.passages),
                )
        return found

    async def load(self, inquiry: Inquiry) -> LoadedInquiry:
        found = self._loaded.get(inquiry.name)
        if found is not None:
            return found
        return await asyncio.to_thread(self.load_now, inquiry)

    def remember(self, loaded: LoadedInquiry) -> None:
        """Use these documents for the inquiry from now on (after ``ingest`` added some)."""
        self._loaded[loaded.inquiry.name] = loaded
