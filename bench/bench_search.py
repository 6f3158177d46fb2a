"""Search speed: our SearchIndex against plain rank-bm25 and raw bm25s, same corpus, same queries.

    python bench/bench_search.py [--passages 100000] [--queries 200] [--baseline-queries 30]

Prints markdown tables. The synthetic corpus is deterministic (fixed seed): words are
drawn with a Zipf-like law from the seed documents' own vocabulary followed by a long
tail of made-up words, ~40 words a passage, ten passages a document, and one passage
in fifty repeats a sentence from another document (so shared-quotation grouping has
work to do). Queries mix short keyword queries with chatty questions.
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bm25s  # noqa: E402
import numpy as np  # noqa: E402
from rank_bm25 import BM25Okapi  # noqa: E402

from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.model import Document, DocumentMeta  # noqa: E402
from bot.search import SearchIndex, SearchSettings, tokenize  # noqa: E402
from bot.search.dense import KNOWN_VECTORS, DenseRetriever, passage_text  # noqa: E402
from bot.search.embedding import Embedder, Vectors, load_embedder  # noqa: E402
from bot.search.index import _meaning_text  # noqa: E402
from bot.search.text import STOP_WORDS, Stems, content_words, plain_words  # noqa: E402

SEED = 20230321
WORDS_PER_PASSAGE = 40
PASSAGES_PER_DOCUMENT = 10
TAIL_WORDS = 40_000
QUOTE_EVERY = 50
QUESTION_FORMS = (
    "{}",
    "{} {}",
    "{} {} {}",
    "What did the review say about {} and {}?",
    "Can you tell me what the report actually said about {} {} in the {}?",
    "how many {} were {}",
)


# --- the synthetic corpus ---------------------------------------------------------------


def seed_vocabulary() -> list[str]:
    """The seed documents' words, most frequent first, then made-up rarer ones."""
    counts: Counter[str] = Counter()
    for doc in load_corpus(default_corpus_dir()).documents:
        counts.update(w for w in plain_words(doc.text) if w.isalpha())
    words = [w for w, _ in counts.most_common()]
    rng = random.Random(SEED)
    syllables = ["ka", "lo", "mer", "ti", "san", "dra", "vel", "on", "ist", "ar", "pe", "qu"]
    tail = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(TAIL_WORDS)}
    return words + sorted(tail - set(words))


def zipf_sampler(vocabulary: Sequence[str], rng: random.Random) -> Callable[[int], list[str]]:
    weights = [1.0 / (rank + 2.7) ** 1.05 for rank in range(len(vocabulary))]
    cumulative: list[float] = []
    total = 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)

    def sample(count: int) -> list[str]:
        return rng.choices(vocabulary, cum_weights=cumulative, k=count)

    return sample


def sentence(words: list[str]) -> str:
    text = " ".join(words)
    middle = len(text) // 2
    cut = text.find(" ", middle)
    if cut > 0:
        text = text[:cut] + "," + text[cut:]
    return text[0].upper() + text[1:] + "."


def synthetic_documents(passages: int, vocabulary: Sequence[str]) -> list[Document]:
    """Documents of one-sentence paragraphs, so each paragraph is exactly one passage."""
    rng = random.Random(SEED)
    sample = zipf_sampler(vocabulary, rng)
    paragraphs = [sentence(sample(WORDS_PER_PASSAGE)) for _ in range(passages)]
    for number in range(QUOTE_EVERY, passages, QUOTE_EVERY):
        # A quotation carried by two outlets: a stretch of another document's paragraph.
        source = paragraphs[number - rng.randint(PASSAGES_PER_DOCUMENT, 5 * QUOTE_EVERY)]
        words = source.rstrip(".").split()
        paragraphs[number] = sentence(sample(12) + words[5:25])
    documents = []
    for start in range(0, passages, PASSAGES_PER_DOCUMENT):
        text = "\n\n".join(paragraphs[start : start + PASSAGES_PER_DOCUMENT])
        meta = DocumentMeta(id=f"doc-{start // PASSAGES_PER_DOCUMENT:06d}", title="Synthetic")
        documents.append(Document(meta, text))
    return documents


def synthetic_queries(count: int, vocabulary: Sequence[str]) -> list[str]:
    """Questions from the seed documents' real content words, so frequent ones too."""
    rng = random.Random(SEED + 1)
    content = [w for w in vocabulary[:2000] if w not in STOP_WORDS and len(w) > 3]
    queries = []
    for _ in range(count):
        form = rng.choice(QUESTION_FORMS)
        queries.append(form.format(*rng.sample(content, form.count("{}"))))
    return queries


# --- measuring --------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = action()
    return (time.perf_counter() - started) * 1000, value


def latencies(action: Callable[[str], object], queries: Sequence[str]) -> list[float]:
    action(queries[0])  # warm caches (stemmer memo, numpy) as a running bot would be
    return [timed(lambda q=q: action(q))[0] for q in queries]  # type: ignore[misc]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def peak_rss_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [row(header), row(["---"] * len(header))]
    lines.extend(row(r) for r in rows)
    return "\n".join(lines)


def latency_row(name: str, values: Sequence[float], reference: float) -> list[object]:
    p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
    return [
        name,
        len(values),
        f"{p50:.2f}",
        f"{p95:.2f}",
        f"{max(values):.2f}",
        f"{p50 / reference:.1f}×",
    ]


# --- the runs ---------------------------------------------------------------------------


def large_corpus(passage_count: int, query_count: int, baseline_queries: int) -> None:
    vocabulary = seed_vocabulary()
    documents = synthetic_documents(passage_count, vocabulary)
    queries = synthetic_queries(query_count, vocabulary)
    rss_before = peak_rss_mb()

    with tempfile.TemporaryDirectory() as cache:
        cache_dir = Path(cache)
        build_ms, built = timed(lambda: SearchIndex.build(documents, cache_dir=cache_dir))
        index: SearchIndex = built  # type: ignore[assignment]
        rss_built = peak_rss_mb()
        [cache_file] = cache_dir.glob("*.npz")
        cache_mb = cache_file.stat().st_size / 1e6
        del index
        gc.collect()
        load_ms, loaded = timed(lambda: SearchIndex.build(documents, cache_dir=cache_dir))
        index = loaded  # type: ignore[assignment]
        assert index.from_cache, "second build should load the cache"

    passages = index.passages
    stems = Stems()
    corpus_tokens = [tokenize(p.searchable, stems) for p in passages]
    query_tokens = {q: tokenize(q, stems) or [""] for q in queries}

    settings = SearchSettings()
    raw = bm25s.BM25(k1=settings.k1, b=settings.b)
    raw_build_ms, _ = timed(lambda: raw.index(corpus_tokens, show_progress=False))
    okapi_build_ms, okapi = timed(lambda: BM25Okapi(corpus_tokens))

    ours = latencies(lambda q: index.search(q, k=5), queries)
    raw_ms = latencies(
        lambda q: raw.retrieve([query_tokens[q]], k=5, show_progress=False, n_threads=0),
        queries,
    )
    scores_ms = latencies(lambda q: raw.get_scores(query_tokens[q]), queries)
    subset = queries[:baseline_queries]
    okapi_ms = latencies(lambda q: okapi.get_scores(query_tokens[q]), subset)  # type: ignore[attr-defined]

    hit_counts = [len(index.search(q, k=5).hits) for q in queries[:50]]
    grouped = sum(1 for p in range(len(passages)) if index.also_in(p))
    reference = percentile(ours, 0.5)
    print(f"## Search on {len(passages):,} synthetic passages ({len(documents):,} documents)\n")
    print(
        f"Same {len(queries)} queries for our index and raw bm25s; rank-bm25 only on the first "
        f"{len(subset)} (it scores every passage in Python). Raw bm25s and rank-bm25 get "
        "pre-tokenised queries and return ids only; ours is end to end (tokenise, correct, "
        "retrieve, shared-quotation grouping, per-document cap, excerpts). Ratio = p50 / our p50. "
        "bm25s's own top-k (numpy argpartition over all scores, mostly zeros) is most of its "
        "time; ours partitions only the positive scores.\n"
    )
    print(
        table(
            ["engine", "queries", "p50 ms", "p95 ms", "max ms", "p50 vs ours"],
            [
                latency_row("SearchIndex.search (ours)", ours, reference),
                latency_row("bm25s retrieve (raw)", raw_ms, reference),
                latency_row("bm25s get_scores only, no top-k", scores_ms, reference),
                latency_row("rank-bm25 BM25Okapi.get_scores", okapi_ms, reference),
            ],
        )
    )
    print()
    print(
        table(
            ["build and load", "value"],
            [
                ["SearchIndex.build, no cache (split, tokenise, index, group quotes, save)",
                 f"{build_ms / 1000:.1f} s"],
                ["SearchIndex.build, cache present (hash documents, load passages and index)",
                 f"{load_ms / 1000:.2f} s"],
                ["cache file size", f"{cache_mb:.1f} MB"],
                ["raw bm25s index() on pre-tokenised passages", f"{raw_build_ms / 1000:.1f} s"],
                ["rank-bm25 BM25Okapi() on pre-tokenised passages",
                 f"{okapi_build_ms / 1000:.1f} s"],
                ["peak RSS before building", f"{rss_before:.0f} MB"],
                ["peak RSS after our build", f"{rss_built:.0f} MB"],
                ["passages in a shared-quotation group", f"{grouped:,}"],
                ["mean hits per query (k=5, first 50)", f"{statistics.mean(hit_counts):.1f}"],
            ],
        )
    )
    print()


class StandInVectors:
    """The real model for questions, stand-ins for passages: embedding 100,000 passages for
    real takes hours here, and the query path is what is timed. A stand-in is a real seed
    passage's vector moved by random noise (uniform random vectors would have none of the
    topic structure real passages have, which the cell index relies on)."""

    def __init__(self, model: Embedder, real: Vectors) -> None:
        self._model = model
        self._real = real
        self._rng = np.random.default_rng(SEED)
        self.name = f"stand-in for {model.name}"
        self.dimensions = model.dimensions

    def warm_up(self) -> None:
        self._model.warm_up()

    def passages(self, texts: Sequence[str]) -> Vectors:
        near = self._real[self._rng.integers(0, len(self._real), len(texts))]
        noise = self._rng.standard_normal((len(texts), self.dimensions)).astype(np.float32)
        noise *= _STAND_IN_NOISE / np.sqrt(self.dimensions)
        vectors = near + noise
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def query(self, text: str) -> Vectors:
        return self._model.query(text)


_STAND_IN_NOISE = 0.25  # a stand-in's cosine to the passage it copies: about 0.97


def cell_recall(index: SearchIndex, queries: Sequence[str], model: Embedder) -> float:
    """Share of the exact 100 nearest passages the cell index also returns."""
    retriever = index._semantic.retriever if index._semantic else None  # noqa: SLF001
    if retriever is None or not retriever.approximate:
        return 1.0
    vectors = retriever.vectors
    shares = []
    for query in queries:
        text = _meaning_text(query, content_words(query))
        exact = np.argsort(-(vectors @ model.query(text)))[:100]
        found, _ = retriever.rank(text, 100)
        shares.append(len(set(found) & set(exact.tolist())) / 100)
    return float(np.mean(shares))


def semantic_large(passage_count: int, query_count: int) -> None:
    model = load_embedder()
    if model is None:
        print("## Semantic search: the model could not be loaded; skipped\n")
        return
    vocabulary = seed_vocabulary()
    documents = synthetic_documents(passage_count, vocabulary)
    queries = synthetic_queries(query_count, vocabulary)
    seed_texts = [passage_text(p) for p in SearchIndex.build(
        load_corpus(default_corpus_dir()).documents).passages]
    rate_ms, _ = timed(lambda: model.passages(seed_texts[:128]))
    per_passage = rate_ms / 128
    with tempfile.TemporaryDirectory() as cache:
        index = SearchIndex.build(documents, Path(cache), embedder=model)
        during = latencies(lambda q: index.search(q, k=5), queries)
        progress = index.semantic_progress()
        index.wait_semantic(0)
        assert progress is not None
        index._semantic.stop() if index._semantic else None  # noqa: SLF001 - a bench
        seeds = SearchIndex.build(
            load_corpus(default_corpus_dir()).documents, embedder=model,
            known_vectors=default_corpus_dir() / KNOWN_VECTORS,
        )
        seeds.wait_semantic()
        real = seeds._semantic.vectors() if seeds._semantic else None  # noqa: SLF001
        assert real is not None
        stand_in = StandInVectors(model, real)
        build_ms, built = timed(
            lambda: SearchIndex.build(documents, Path(cache) / "b", embedder=stand_in)
        )
        fused_index: SearchIndex = built  # type: ignore[assignment]
        vectors_ms, _ = timed(lambda: fused_index.wait_semantic())
        fused = latencies(lambda q: fused_index.search(q, k=5), queries)
        recall = cell_recall(fused_index, queries[:50], model)
        semantic = fused_index._semantic  # noqa: SLF001 - a bench: the exact scan, to compare
        assert semantic is not None and semantic.retriever is not None
        semantic._retriever = DenseRetriever(stand_in, semantic.retriever.vectors)  # noqa: SLF001
        model._memo.clear()  # type: ignore[attr-defined]  # noqa: SLF001 - encode afresh
        exact = latencies(lambda q: fused_index.search(q, k=5), queries)
        # What search embeds of each question, afresh (the model memoises questions).
        model._memo.clear()  # type: ignore[attr-defined]  # noqa: SLF001
        encode = latencies(lambda q: model.query(_meaning_text(q, content_words(q))), queries)
    reference = percentile(fused, 0.5)
    print(f"## Semantic search on {passage_count:,} synthetic passages\n")
    print(
        "Questions: the real model encodes each (distinct texts, nothing memoised); passage "
        "vectors are stand-ins (real seed passage vectors moved by noise; same shape, 384 "
        "float32 a passage) because embedding "
        "them for real takes the time given below.\n"
    )
    print(
        table(
            ["path", "queries", "p50 ms", "p95 ms", "max ms", "p50 vs fused"],
            [
                latency_row("fused search (BM25 + semantic, end to end)", fused, reference),
                latency_row("  the same, every vector scanned (no cells)", exact, reference),
                latency_row(
                    "  of which: encoding the question (as search embeds it)", encode, reference
                ),
                latency_row(
                    f"BM25 while the vectors build ({progress.done:,} done)", during, reference
                ),
            ],
        )
    )
    print()
    hours = per_passage * passage_count / 3_600_000
    print(
        table(
            ["build", "value"],
            [
                ["embedding one seed passage (batch of 128, real model)",
                 f"{per_passage:.1f} ms"],
                [f"embedding {passage_count:,} passages at that rate (background, resumable)",
                 f"{hours:.2f} h"],
                ["BM25 index build with the semantic build started", f"{build_ms / 1000:.1f} s"],
                ["stand-in vectors built, grouped into cells, swapped in",
                 f"{vectors_ms / 1000:.1f} s"],
                ["vectors in memory", f"{passage_count * 384 * 4 / 1e6:.0f} MB"],
                ["cell index: share of the exact 100 nearest it returns (50 questions)",
                 f"{recall:.2f}"],
            ],
        )
    )
    print()


def seed_corpus() -> None:
    documents = load_corpus(default_corpus_dir()).documents
    questions = [
        "fridges and freezers",
        "What did Rape Crisis say about the report?",
        "Can you tell me what the report actually said about how the Met handles vetting?",
        "misogny",
        "xylophone quasar",
        "public trust and confidence",
        "How many borough commands were merged into basic command units?",
    ]
    with tempfile.TemporaryDirectory() as cache:
        cache_dir = Path(cache)
        build_ms, _ = timed(lambda: SearchIndex.build(documents, cache_dir=cache_dir))
        load_ms, loaded = timed(lambda: SearchIndex.build(documents, cache_dir=cache_dir))
    index: SearchIndex = loaded  # type: ignore[assignment]
    search_ms = latencies(lambda q: index.search(q), questions * 20)
    print(f"## Seed documents ({len(documents)} documents, {len(index.passages)} passages)\n")
    print(
        table(
            ["measure", "value"],
            [
                ["build, no cache", f"{build_ms:.0f} ms"],
                ["build, cache present", f"{load_ms:.0f} ms"],
                ["search, median (7 kinds of question × 20)",
                 f"{statistics.median(search_ms):.2f} ms"],
                ["search, p95", f"{percentile(search_ms, 0.95):.2f} ms"],
            ],
        )
    )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--baseline-queries", type=int, default=30)
    parser.add_argument("--semantic-only", action="store_true", help="skip the BM25 comparison")
    args = parser.parse_args()
    seed_corpus()
    if not args.semantic_only:
        large_corpus(args.passages, max(1, args.queries), max(1, args.baseline_queries))
    semantic_large(args.passages, max(1, args.queries))


if __name__ == "__main__":
    main()
