"""Write the seed documents' passage vectors into seeds/, so a fresh install need not embed.

    python bench/seed_vectors.py [--corpus DIR]

Run it after changing the seed documents, the passage splitter or the embedded text
(``EMBED_VERSION``): passages whose text no longer matches are embedded at start-up instead
(in the background, as for any other corpus), so a stale file costs time, never answers.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.search import SearchIndex  # noqa: E402
from bot.search.dense import KNOWN_VECTORS, write_known  # noqa: E402
from bot.search.embedding import load_embedder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=default_corpus_dir())
    args = parser.parse_args()
    embedder = load_embedder()
    if embedder is None:
        sys.exit("the model could not be loaded")
    started = time.perf_counter()
    index = SearchIndex.build(load_corpus(args.corpus).documents, embedder=embedder)
    if not index.wait_semantic() or index._semantic is None:  # noqa: SLF001 - a tool
        sys.exit("the semantic index failed to build")
    vectors = index._semantic.vectors()  # noqa: SLF001
    assert vectors is not None
    write_known(args.corpus / KNOWN_VECTORS, index.passages, vectors, embedder)
    took = time.perf_counter() - started
    print(f"{len(index.passages)} passage vectors written to {args.corpus / KNOWN_VECTORS}"
          f" in {took:.1f}s")


if __name__ == "__main__":
    main()
