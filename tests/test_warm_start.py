"""A restart on unchanged documents: the cached index keeps passages as offsets into the
documents' text, and the first reply loads none of the libraries only reading or indexing
needs."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bot.documents import default_corpus_dir
from bot.model import Document, DocumentMeta, Section
from bot.search import SearchIndex
from bot.search.tables import CACHE_PREFIX
from tests.pdf_maker import Block, PdfReport

ROOT = Path(__file__).resolve().parent.parent

# Wrapped lines (joined in their passage), a heading (joined to its paragraph), a list
# with its lead-in, and plain one-line paragraphs (found in place in the text).
TEXT = """Chapter 1 The night of the flood

The pumps at Eastgate failed at midnight. The alarm was never tested.
The council had been warned twice about the pumps. Nobody acted on the warnings.

The river rose faster than the wardens
expected and the gates stayed open.

The review applied three tests to the council's response:
- whether warnings were heeded;
- whether residents were told;
- whether help arrived in time.

Residents waited six hours for help. Some were never contacted at all.
"""


def document() -> Document:
    meta = DocumentMeta(id="eastgate", title="Eastgate Flood Review", kind="report")
    chapter = Section(title="Chapter 1 The night of the flood", start=0, end=len(TEXT))
    return Document(meta=meta, text=TEXT, sections=(chapter,))


def cache_file(cache: Path) -> Path:
    (path,) = cache.glob(f"{CACHE_PREFIX}*.npz")
    return path


def test_passages_loaded_from_the_cache_are_the_ones_built(tmp_path: Path) -> None:
    built = SearchIndex.build([document()], cache_dir=tmp_path)
    loaded = SearchIndex.build([document()], cache_dir=tmp_path)
    assert loaded.from_cache and not built.from_cache
    assert list(loaded.passages) == list(built.passages)
    assert loaded.passages == built.passages
    # The mix this text was written for: some passages in place, some joined, a lead-in.
    assert any(p.text in TEXT for p in built.passages)
    assert any(p.text not in TEXT for p in built.passages)
    assert any(p.lead_in for p in loaded.passages)
    assert loaded.passages[-1] == built.passages[-1]
    assert loaded.passages[1:3] == built.passages[1:3]
    first = loaded.search("pumps warned").hits[0].passage
    assert first == built.search("pumps warned").hits[0].passage
    assert first.section == "Chapter 1 The night of the flood"


def test_the_cache_keeps_only_the_text_of_passages_not_found_in_place(tmp_path: Path) -> None:
    index = SearchIndex.build([document()], cache_dir=tmp_path)
    with np.load(cache_file(tmp_path)) as stored:
        copied = stored["passage_text"].tobytes().decode("utf-8")
    not_in_place = [p.text for p in index.passages if not TEXT.startswith(p.text, p.start)]
    assert not_in_place and copied == "".join(not_in_place)
    assert len(copied) < sum(len(p.text) for p in index.passages) / 2


def test_passages_that_do_not_fit_the_documents_are_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built = SearchIndex.build([document()], cache_dir=tmp_path)
    path = cache_file(tmp_path)
    with np.load(path) as stored:
        arrays = dict(stored)
    arrays["passage_start"] = arrays["passage_start"] + len(TEXT)  # past the document's end
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    with caplog.at_level(logging.WARNING):
        again = SearchIndex.build([document()], cache_dir=tmp_path)
    assert not again.from_cache
    assert again.passages == built.passages
    assert "do not fit their documents" in caplog.text


def test_a_damaged_cache_file_is_rebuilt(tmp_path: Path) -> None:
    SearchIndex.build([document()], cache_dir=tmp_path)
    path = cache_file(tmp_path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "passage_in_place.npy" in names
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    assert not SearchIndex.build([document()], cache_dir=tmp_path).from_cache


# Start-up as ``inquiry-bot ask /findings`` does it, then the modules it had to import.
FIRST_REPLY = """
import asyncio, json, sys
from pathlib import Path
from adapters.app import Config, build_bot, build_services
from bot.messages import ChatRef, IncomingMessage, SenderRef, render_plain

config = Config(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), semantic=False)
bot = build_bot(build_services(config))
message = IncomingMessage(ChatRef("console", "t"), SenderRef("u"), "/findings")
reply = asyncio.run(bot.handle(message))
print(json.dumps({"reply": render_plain(reply), "modules": sorted(sys.modules)}))
"""

HEAVY = (
    "bm25s",  # no longer used to build an index (bench/ compares with it)
    "scipy",
    "pypdfium2",  # reading a PDF
    "trafilatura",  # reading a web page
    "lxml",
    "docx",
    "markdown_it",
    "asyncpg",  # a PostgreSQL database
    "telegram",  # the platforms
    "discord",
    "aiohttp",
)


def test_a_warm_first_reply_imports_no_reader_indexer_or_platform_library(
    tmp_path: Path,
) -> None:
    corpus, cache = tmp_path / "corpus", tmp_path / "cache"
    shutil.copytree(default_corpus_dir(), corpus)
    PdfReport(blocks=[Block("Annex A", 0), Block("The pumps were old.")]).write(
        corpus / "annex.pdf"
    )
    (corpus / "notice.html").write_text(
        "<html><head><title>Notice</title></head><body><main><h1>Notice</h1>"
        "<p>The inquiry will hold hearings in the spring of next year.</p></main></body></html>"
    )
    command = [sys.executable, "-c", FIRST_REPLY, str(corpus), str(cache), str(tmp_path / "bot.db")]
    # The first start reads and indexes everything; the second finds it all in the cache.
    cold = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    cold_loaded = {name.split(".")[0] for name in json.loads(cold.stdout)["modules"]}
    assert "pypdfium2" in cold_loaded  # it did read and index everything
    assert cold_loaded.isdisjoint({"bm25s", "scipy"})  # the index is built with numpy alone
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout)
    assert "The report's 8 findings" in result["reply"]
    assert "systemic and fundamental problems" in result["reply"]
    loaded = {name.split(".")[0] for name in result["modules"]}
    assert loaded.isdisjoint(HEAVY), sorted(loaded.intersection(HEAVY))
