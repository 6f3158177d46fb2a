"""Search quality on the development questions: recall@1/3/5 and abstention, as a table.

    python bench/eval_search.py [--bm25-only] [--eval-dir DIR] [--misses]

Sets: the shared development questions (``dev-questions``, ``dev-paraphrase``,
``dev-unanswerable`` from ``../shared/eval`` or ``/work/shared/eval``) when present, and
the project's own (``tests/test_eval_questions.py``). A question is found at k when an
expected phrase (case and white space folded, typographic quotes plain) is in the full
text of one of its first k passages. "declined" counts replies that say the documents do
not answer: wanted for the unanswerable sets, a fault for the others.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.documents import default_corpus_dir, load_corpus  # noqa: E402
from bot.search import SearchIndex  # noqa: E402
from bot.search.embedding import MODEL_NAME, load_embedder  # noqa: E402
from tests.test_eval_questions import (  # noqa: E402
    OWN_PARAPHRASES,
    OWN_QUESTIONS,
    OWN_UNANSWERABLE,
    fold,
)

Question = tuple[str, tuple[str, ...]]  # no phrases: the documents do not answer it


def eval_dirs() -> list[Path]:
    return [ROOT.parent / "shared" / "eval", Path("/work/shared/eval")]


def read_set(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(row["question"], (row["expect"],) if "expect" in row else ()) for row in rows]


def question_sets(eval_dir: Path | None) -> dict[str, list[Question]]:
    sets: dict[str, list[Question]] = {}
    found = next((d for d in ([eval_dir] if eval_dir else eval_dirs()) if d.is_dir()), None)
    if found is not None:
        for name in ("dev-questions", "dev-paraphrase", "dev-unanswerable"):
            if (found / f"{name}.jsonl").exists():
                sets[name] = read_set(found / f"{name}.jsonl")
    sets["own-keyword"] = list(OWN_QUESTIONS)
    sets["own-paraphrase"] = list(OWN_PARAPHRASES)
    sets["own-unanswerable"] = [(q, ()) for q in OWN_UNANSWERABLE]
    return sets


@dataclass
class Score:
    questions: int = 0
    at1: int = 0
    at3: int = 0
    at5: int = 0
    declined: int = 0


def score(index: SearchIndex, questions: list[Question], misses: bool) -> Score:
    tally = Score()
    for question, expected in questions:
        result = index.search(question, k=5)
        tally.questions += 1
        tally.declined += not result.answered
        texts = [fold(hit.passage.text) for hit in result.hits]
        found = [any(fold(p) in text for p in expected) for text in texts]
        first = found.index(True) + 1 if True in found else None
        tally.at1 += first is not None and first <= 1
        tally.at3 += first is not None and first <= 3
        tally.at5 += first is not None and first <= 5
        wrong = (expected and (first is None or first > 3 or not result.answered)) or (
            not expected and result.answered
        )
        if misses and wrong:
            verdict = "answered" if result.answered else f"declined {result.verdict.missing}"
            print(f"  miss [{verdict}] {question[:80]!r} -> {expected[:1]}", file=sys.stderr)
    return tally


def table(index: SearchIndex, sets: dict[str, list[Question]], misses: bool) -> str:
    rows = [
        "| set | questions | recall@1 | recall@3 | recall@5 | declined |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, questions in sets.items():
        if misses:
            print(name, file=sys.stderr)
        tally = score(index, questions, misses)
        n = tally.questions
        if name.endswith("unanswerable"):
            rows.append(f"| {name} | {n} | – | – | – | **{tally.declined}/{n}** |")
        else:
            rows.append(
                f"| {name} | {n} | {tally.at1} | **{tally.at3}** | {tally.at5} "
                f"| {tally.declined}/{n} |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bm25-only", action="store_true", help="search without the model")
    parser.add_argument("--eval-dir", type=Path, help="folder of the dev-*.jsonl sets")
    parser.add_argument("--misses", action="store_true", help="list what each set missed")
    parser.add_argument("--cache", type=Path, help="keep the built index here (default: none)")
    args = parser.parse_args()
    documents = load_corpus(default_corpus_dir()).documents
    embedder = None if args.bm25_only else load_embedder()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        index = SearchIndex.build(documents, args.cache or Path(scratch), embedder=embedder)
        ready = index.wait_semantic()
        built = time.perf_counter() - started
        mode = f"BM25 + {MODEL_NAME}, RRF" if ready else "BM25 alone"
        print(f"{mode}; {len(index.passages)} passages, index built in {built:.1f}s\n")
        print(table(index, question_sets(args.eval_dir), args.misses))


if __name__ == "__main__":
    main()
