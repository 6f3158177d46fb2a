"""Reading documents: a 300-page PDF, and a restart on an unchanged 100,000-paragraph corpus.

    python bench/bench_documents.py [--pages 300] [--paragraphs 100000]

Prints markdown tables.

* **PDF**: a generated report (running header, page numbers, outline, wrapped paragraphs,
  numbered findings and recommendations) read whole, as ``ingest`` and ``--corpus`` read it:
  extraction, furniture, re-flow, cleaning and structure. PDFium (pypdfium2, the reader the
  bot uses) is compared with pypdf's text extraction alone, when pypdf is installed.
* **Restart**: a fresh process building the bot's services (documents and search index) on a
  folder of plain-text documents totalling 100,000 paragraphs: cold (empty caches), then warm
  (nothing changed), then after one document changed. Then the whole warm restart to a
  first reply as a user meets it: a fresh ``inquiry-bot ask /findings`` on that folder.

The project's modules are compiled to bytecode first, as an installed package's are, so
every start reads bytecode rather than compiling source.
"""

from __future__ import annotations

import argparse
import compileall
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.documents import parse_file  # noqa: E402
from tests.pdf_maker import Block, PdfReport  # noqa: E402

WORDS = (
    "inquiry council warning flood pump station officer duty night river agency report "
    "evidence witness record failure alarm door stair resident landlord regulator review "
    "inspection budget contract engineer bridge harbour pilot coastguard minister safety "
    "culture vetting misconduct training supervision complaint family victim"
).split()

# What ``build_services`` does at start-up, one step at a time.
RESTART = """
import sys, time
started = time.perf_counter()
from pathlib import Path
from adapters.app import Config, build_services
from bot.documents import load_corpus
from bot.search import SearchIndex
imported = time.perf_counter()
corpus = load_corpus(Path(sys.argv[1]), Path(sys.argv[2]))
loaded = time.perf_counter()
index = SearchIndex.build(corpus.documents, cache_dir=Path(sys.argv[2]))
indexed = time.perf_counter()
import resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
print(imported - started, loaded - imported, indexed - loaded, len(index.passages), peak)
"""


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def make_pdf(path: Path, pages: int) -> Path:
    rng = random.Random(7)
    blocks: list[Block] = [Block("Report of the Riverside Flood Inquiry", 0)]
    breaks: list[int] = []
    chapters = max(pages // 10, 1)
    for chapter in range(1, chapters + 1):
        breaks.append(len(blocks))
        blocks.append(Block(f"Chapter {chapter}: {sentence(rng, 4)[:-1]}", 0))
        for _ in range(45):  # about ten pages a chapter
            blocks.append(Block(" ".join(sentence(rng, 18) for _ in range(6))))
    breaks.append(len(blocks))
    blocks.append(Block("Summary of findings", 0))
    for n in range(1, 21):
        blocks.append(Block(f"Finding {n}: {sentence(rng, 6)} {sentence(rng, 30)}"))
    blocks.append(Block("Recommendations", 0))
    for n in range(1, 31):
        blocks.append(Block(f"{n}. The council should {sentence(rng, 20).lower()}"))
        blocks.append(Block("(a) within a year;\n(b) and report on it.", indent=1))
    return PdfReport(blocks=blocks, page_breaks=tuple(breaks)).write(path)


def pdf_table(folder: Path, pages: int) -> None:
    path = make_pdf(folder / "report.pdf", pages)
    import pypdfium2 as pdfium

    with pdfium.PdfDocument(str(path)) as pdf:
        printed = len(pdf)
    started = time.perf_counter()
    parsed = parse_file(path)
    ours = time.perf_counter() - started
    rows = [
        (
            "pypdfium2 + furniture, footnotes, re-flow, cleaning, structure (the bot's reader)",
            ours,
            f"{len(parsed.structure.findings)} findings, "
            f"{len(parsed.structure.recommendations)} recommendations, "
            f"{len(parsed.structure.chapters)} outline parts",
        )
    ]
    started = time.perf_counter()
    with pdfium.PdfDocument(str(path)) as pdf:
        raw = "".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    rows.append(("pypdfium2 text extraction alone", time.perf_counter() - started, ""))
    try:
        import pypdf
    except ImportError:
        pypdf = None
    if pypdf is not None:
        started = time.perf_counter()
        reader = pypdf.PdfReader(str(path))
        other = "".join(page.extract_text() for page in reader.pages)
        rows.append(
            (
                "pypdf text extraction alone",
                time.perf_counter() - started,
                f"{len(other):,} characters (pypdfium2: {len(raw):,})",
            )
        )
    print(f"\n**Reading a {printed}-page PDF** ({path.stat().st_size / 1e6:.1f} MB)\n")
    print("| reader | seconds | read |")
    print("|---|---:|---|")
    for name, seconds, note in rows:
        print(f"| {name} | {seconds:.2f} | {note} |")


def make_corpus(folder: Path, paragraphs: int, per_document: int = 1000) -> None:
    rng = random.Random(11)
    folder.mkdir()
    for number in range(paragraphs // per_document):
        text = "\n\n".join(sentence(rng, 20) for _ in range(per_document))
        (folder / f"doc-{number:04d}.txt").write_text(text)


def restart(corpus: Path, cache: Path) -> tuple[float, float, float, float, int, int]:
    """Seconds: the whole process, imports, documents, search index; passages; peak MB."""
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", RESTART, str(corpus), str(cache)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    wall = time.perf_counter() - started
    imports, documents, index, passages, peak = done.stdout.split()
    return wall, float(imports), float(documents), float(index), int(passages), int(peak)


def first_reply(corpus: Path, cache: Path) -> float:
    """Seconds for a fresh ``inquiry-bot ask /findings`` on the corpus, start to reply."""
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        INQUIRY_BOT_CORPUS=str(corpus),
        INQUIRY_BOT_CACHE=str(cache),
        INQUIRY_BOT_DB=str(cache.parent / "bot.db"),
    )
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ask", "/findings"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def first_reply_table(corpus: Path, cache: Path, rounds: int = 5) -> None:
    first_reply(corpus, cache)  # creates the database, as a deployment already has it
    times = sorted(first_reply(corpus, cache) for _ in range(rounds))
    print(
        f"\n**Warm restart to the first reply** (`inquiry-bot ask /findings`, a fresh process, "
        f"{rounds} runs)\n"
    )
    print("| median s | fastest s | slowest s | target |")
    print("|---:|---:|---:|---:|")
    print(f"| **{statistics.median(times):.2f}** | {times[0]:.2f} | {times[-1]:.2f} | ≤ 1.5 |")


def restart_table(folder: Path, paragraphs: int) -> None:
    corpus, cache = folder / "corpus", folder / "cache"
    make_corpus(corpus, paragraphs)
    for package in ("bot", "adapters"):
        compileall.compile_dir(ROOT / package, quiet=1)
    rows = [("cold: empty caches", *restart(corpus, cache))]
    rows.append(("warm: nothing changed", *restart(corpus, cache)))
    rows.append(("warm again", *restart(corpus, cache)))
    changed = corpus / "doc-0000.txt"
    changed.write_text(changed.read_text() + "\n\nA new paragraph about the pumps.")
    rows.append(("one document changed", *restart(corpus, cache)))
    print(f"\n**Restart on {paragraphs:,} paragraphs** (a fresh process; documents + index)\n")
    print(
        "| start | whole process s | imports s | documents s | search index s | passages "
        "| peak MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, wall, imports, documents, index, passages, peak in rows:
        print(
            f"| {name} | {wall:.2f} | {imports:.2f} | **{documents:.2f}** | {index:.2f} "
            f"| {passages:,} | {peak} |"
        )
    first_reply_table(corpus, cache)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--paragraphs", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pdf_table(Path(tmp), args.pages)
        restart_table(Path(tmp), args.paragraphs)


if __name__ == "__main__":
    main()
