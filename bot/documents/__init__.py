"""The document pipeline: read a folder of documents, clean them, read their structure.

``load_corpus(folder)`` is the entry point: documents and the report's structure.
"""

from bot.documents.corpus import (
    DOCUMENT_SUFFIXES,
    CorpusError,
    ParsedDocument,
    build_corpus,
    default_corpus_dir,
    document_from_text,
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
    "document_from_text",
    "load_corpus",
    "load_document",
    "parse_document",
    "parse_file",
    "read_meta",
]
