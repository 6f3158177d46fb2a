"""The document pipeline: read a folder of documents, clean them, read their structure.

The entry point is ``load_corpus(folder, cache_dir=None) -> Corpus``: every document in the
folder (any format in ``readers``) and the report's structure (findings, recommendations,
contents), read once and kept in ``cache_dir`` between starts. ``parse_file`` reads one
file, ``build_corpus`` puts parsed documents together, ``ingest.stored_documents`` gives the
documents added with ``inquiry-bot ingest``.

Modules: ``readers`` (one per format), ``cleaning``, the structure (``structure`` with
``contents``, ``items``, ``findings``, ``recommendations``, ``sections`` and ``lines``),
``cache``, ``corpus`` (loading), ``ingest`` (adding documents to the database).
"""

from bot.documents.corpus import (
    DOCUMENT_SUFFIXES,
    CorpusError,
    ParsedDocument,
    build_corpus,
    default_corpus_dir,
    document_from_text,
    document_paths,
    load_corpus,
    load_document,
    parse_document,
    parse_file,
    read_meta,
)

__all__ = [
    "DOCUMENT_SUFFIXES",
    "CorpusError",
    "ParsedDocument",
    "build_corpus",
    "default_corpus_dir",
    "document_paths",
    "document_from_text",
    "load_corpus",
    "load_document",
    "parse_document",
    "parse_file",
    "read_meta",
]
