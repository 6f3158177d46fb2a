"""How an inquiry is loaded: its folder's documents, those ``ingest`` added, its index.

Each inquiry's search index is cached in a folder of its own under the cache directory, so
the caches of twenty inquiries never evict one another.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from bot.documents import build_corpus, load_corpus
from bot.documents.cache import DocumentCache
from bot.documents.ingest import parse_stored, with_stored
from bot.inquiries.catalogue import LoadedInquiry, Loader
from bot.inquiries.model import Inquiry, normalise_name
from bot.model import Corpus
from bot.search.dense import KNOWN_VECTORS
from bot.search.embedding import Embedder
from bot.store import DocumentRecord


def inquiry_cache_dir(cache_dir: Path | None, name: str) -> Path | None:
    return cache_dir / "inquiries" / name if cache_dir is not None else None


def corpus_of(
    inquiry: Inquiry, added: Sequence[DocumentRecord], cache_dir: Path | None = None
) -> Corpus:
    """The inquiry's documents: its folder's, then those added to it with ``ingest``
    (read once and kept in ``cache_dir``'s document cache)."""
    cache = DocumentCache(cache_dir) if cache_dir is not None else None
    parsed = [parse_stored(r, cache) for r in added]
    if inquiry.folder is None:
        return build_corpus(parsed)  # the report's structure comes from what was added
    return with_stored(load_corpus(inquiry.folder, cache_dir), [p.document for p in parsed])


def make_loader(
    cache_dir: Path | None,
    added: Mapping[str, Sequence[DocumentRecord]],
    embedder: Embedder | None = None,
) -> Loader:
    """Loads an inquiry; ``added`` holds the documents ``ingest`` stored, by inquiry name.
    With an ``embedder`` each index builds its semantic vectors in the background, starting
    from those shipped in the inquiry's folder."""

    def load(inquiry: Inquiry) -> LoadedInquiry:
        from bot.search import SearchIndex

        corpus = corpus_of(inquiry, added.get(inquiry.name, ()), cache_dir)
        index = SearchIndex.build(
            corpus.documents,
            cache_dir=inquiry_cache_dir(cache_dir, inquiry.name),
            embedder=embedder,
            known_vectors=inquiry.folder / KNOWN_VECTORS if inquiry.folder else None,
        )
        return LoadedInquiry(inquiry, corpus, index)

    return load


def group_by_inquiry(
    records: Sequence[DocumentRecord], default: str | None = None
) -> dict[str, list[DocumentRecord]]:
    """Added documents by inquiry name ("" for those from before inquiries, if no default)."""
    found: dict[str, list[DocumentRecord]] = {}
    for record in records:
        found.setdefault(record.inquiry or normalise_name(default or ""), []).append(record)
    return found
