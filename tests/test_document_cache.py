"""What was read is kept between starts, and re-read only when the file changed."""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path

from bot.documents import load_corpus
from bot.documents.cache import UNUSED_FOR, DocumentCache, file_key

REPORT = """Findings

1. The alarm failed. It had not been tested.

2. The doors were open. Nobody closed them.
"""


def entries(cache: Path) -> list[Path]:
    return sorted((cache / "documents").glob("*.pickle"))


def test_a_restart_reads_documents_from_the_cache(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    folder.mkdir()
    (folder / "report.txt").write_text(REPORT)
    (folder / "report.json").write_text('{"kind": "report"}')
    first = load_corpus(folder, cache)
    assert len(entries(cache)) == 1
    # What the cache holds is what a restart serves, without reading the file again: an
    # entry written under the file's key is taken as the file's reading.
    stored = DocumentCache(cache).get(file_key(folder / "report.txt"))
    assert stored is not None and stored.document == first.documents[0]
    assert load_corpus(folder, cache) == first


def test_a_changed_file_is_read_again(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    folder.mkdir()
    path = folder / "report.txt"
    path.write_text(REPORT)
    load_corpus(folder, cache)
    path.write_text(REPORT.replace("The alarm failed", "The siren failed"))
    os.utime(path, ns=(1, 1))  # even with its old time put back, its size differs
    corpus = load_corpus(folder, cache)
    assert "The siren failed" in corpus.documents[0].text
    assert len(entries(cache)) == 2


def test_a_changed_sidecar_is_read_again(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    folder.mkdir()
    (folder / "report.txt").write_text(REPORT)
    load_corpus(folder, cache)
    (folder / "report.json").write_text('{"title": "The Eastgate Review", "kind": "report"}')
    corpus = load_corpus(folder, cache)
    assert corpus.documents[0].meta.title == "The Eastgate Review"
    titles = [f.title for f in corpus.structure.findings]
    assert titles == ["The alarm failed", "The doors were open"]


def test_a_damaged_cache_entry_is_read_past(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    folder.mkdir()
    (folder / "report.txt").write_text(REPORT)
    first = load_corpus(folder, cache)
    (entry,) = entries(cache)
    entry.write_bytes(b"not a pickle")
    assert load_corpus(folder, cache) == first
    with entry.open("rb") as handle:  # and the entry is written again
        assert pickle.load(handle).document.text == first.documents[0].text


def one_entry_a_month_old(folder: Path, cache: Path, name: str) -> Path:
    """Load a folder of one document and age its cache entry past UNUSED_FOR."""
    folder.mkdir()
    (folder / name).write_text(REPORT)
    load_corpus(folder, cache)
    (entry,) = entries(cache)
    month_ago = time.time() - UNUSED_FOR - 60
    os.utime(entry, (month_ago, month_ago))
    return entry


def test_entries_unused_for_a_month_are_removed(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    old = one_entry_a_month_old(folder, cache, "old.txt")
    (folder / "old.txt").unlink()
    (folder / "new.txt").write_text(REPORT.replace("alarm", "siren"))
    load_corpus(folder, cache)
    assert old not in entries(cache) and len(entries(cache)) == 1


def test_an_entry_in_use_is_kept(tmp_path: Path) -> None:
    folder, cache = tmp_path / "docs", tmp_path / "cache"
    kept = one_entry_a_month_old(folder, cache, "kept.txt")
    load_corpus(folder, cache)  # used today
    (folder / "new.txt").write_text(REPORT.replace("alarm", "siren"))
    load_corpus(folder, cache)
    assert kept in entries(cache)
