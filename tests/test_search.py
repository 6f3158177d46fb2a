"""Search: tokens, passages, ranking, shared quotations, excerpts, typos and the disk cache."""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

import msgpack
import numpy as np
import pytest

from bot.documents import default_corpus_dir, load_corpus
from bot.model import Corpus, Document, DocumentMeta, Section
from bot.search import Hit, SearchIndex, SearchResult, split_passages, tokenize
from bot.search.lexicon import English, Lexicon
from bot.search.text import split_sentences

REVIEW = "casey-review-front-matter"
NATIONAL = "the-national-met-institutionally-racist"
SENTENCE_END = re.compile(r"""[.!?…:;]["'”’»)\]]*\d{0,3}$""")


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(default_corpus_dir())


@pytest.fixture(scope="module")
def index(corpus: Corpus) -> SearchIndex:
    return SearchIndex.build(corpus.documents)


def doc(doc_id: str, text: str, sections: tuple[Section, ...] = ()) -> Document:
    return Document(DocumentMeta(id=doc_id, title=doc_id.title()), text, sections)


def sentences(text: str) -> list[str]:
    return [text[start:end] for start, end in split_sentences(text)]


def shown(hit: Hit) -> str:
    return "".join(text for text, _ in hit.excerpt)


def highlighted(hit: Hit) -> list[str]:
    return [text for text, matched in hit.excerpt if matched]


# --- tokens ---------------------------------------------------------------------------


def test_tokens_are_lower_case_stems_without_stop_words() -> None:
    assert tokenize("What did the Officers say about Policing?") == ["offic", "say", "polic"]


def test_said_and_says_meet_say() -> None:
    assert tokenize("said") == tokenize("says") == tokenize("say")


def test_numbers_survive_without_their_percent_signs_and_commas() -> None:
    assert tokenize("below 50% in 2016, £9,600 or £0.7 billion") == [
        "50", "2016", "9600", "0.7", "billion",
    ]


def test_typographic_apostrophes_read_as_plain_ones() -> None:
    assert tokenize("the Met’s officers") == tokenize("the Met's officers") == ["met", "offic"]


def test_hyphenated_words_give_both_parts_and_the_compound() -> None:
    assert tokenize("under-protected") == ["protect", "underprotect"]
    assert set(tokenize("overpoliced")) <= set(tokenize("over-policed"))


def test_acronym_plurals_match_the_singular() -> None:
    assert tokenize("BCUs") == tokenize("BCU")


def test_accents_fold_for_latin_words_and_other_scripts_stay_whole() -> None:
    assert tokenize("naïve Zürich café") == tokenize("naive Zurich cafe")
    assert tokenize("Москва पुलिस") == ["москва", "पुलिस"]


# --- sentences and passages -----------------------------------------------------------


def test_abbreviations_and_titles_do_not_end_sentences() -> None:
    text = (
        "Ms Everard was murdered. Mr. Sunak spoke, e.g. on radio. Dr. Smith met Sir Mark "
        "Rowley at No. 10 Downing St. in the U.K. today. The end."
    )
    assert len(sentences(text)) == 4
    assert sentences(text)[1] == "Mr. Sunak spoke, e.g. on radio."


def test_numbered_items_quotes_and_ellipses_split_where_a_reader_would() -> None:
    assert sentences("1. There are systemic problems. They persist.") == [
        "1. There are systemic problems.",
        "They persist.",
    ]
    assert sentences("“It is brutal.” She said so. “Really?” Yes.") == [
        "“It is brutal.”", "She said so.", "“Really?”", "Yes.",
    ]
    assert sentences("You have to be invisible... If you complain it gets worse.") == [
        "You have to be invisible...", "If you complain it gets worse.",
    ]
    assert sentences("told me: “we abused.”8 Reverend Smallman said more.") == [
        "told me: “we abused.”8", "Reverend Smallman said more.",
    ]


def test_every_passage_ends_a_sentence_or_a_line(corpus: Corpus, index: SearchIndex) -> None:
    # Never cut mid-sentence: a passage ends at a sentence end, or where its line (a
    # heading, a list item, a caption) ends in the document.
    texts = {d.id: d.text for d in corpus.documents}
    for passage in index.passages:
        if SENTENCE_END.search(passage.text):
            continue
        last_line = r"\s+".join(map(re.escape, passage.text.splitlines()[-1].split()))
        assert re.search(last_line + r"[ \t]*(\n|$)", texts[passage.document_id]), passage.text


def test_passages_are_short_unless_one_sentence_is_long(index: SearchIndex) -> None:
    for passage in index.passages:
        if len(passage.text) > 450:
            assert len(split_sentences(passage.text)) == 1, passage.text
    median = sorted(len(p.text) for p in index.passages)[len(index.passages) // 2]
    assert 120 <= median <= 320


def test_names_after_titles_stay_in_one_passage(index: SearchIndex) -> None:
    texts = [p.text for p in index.passages]
    assert any("murder of Ms Everard by a serving Met" in t for t in texts)
    assert any("Sir Mark Rowley said he accepts the diagnosis" in t for t in texts)
    assert not any(re.search(r"\b(Ms|Mr|Mrs|Dr|Sir)\.?$", t) for t in texts)


def test_table_of_contents_lines_are_not_passages(index: SearchIndex) -> None:
    assert not any("……" in p.text for p in index.passages)


def test_passages_know_their_section_and_ids_count_up(index: SearchIndex) -> None:
    assert [p.id for p in index.passages] == list(range(len(index.passages)))
    borough = next(p for p in index.passages if "32 borough-based" in p.text)
    assert borough.document_id == REVIEW
    assert borough.section is not None and borough.section.startswith("Finding 4")


def test_a_list_is_found_by_the_sentence_that_introduces_it(index: SearchIndex) -> None:
    tests = next(p for p in index.passages if "Clearly not everyone in the Met" in p.text)
    assert "four tests" in tests.lead_in
    assert "four tests" not in tests.text


def test_wrapped_lines_join_and_headings_lead_their_paragraph() -> None:
    text = "A heading\nFirst line runs\non here. Second sentence.\n\nNew paragraph."
    passages = split_passages(doc("d", text, (Section("Part", 0, len(text)),)), first_id=7)
    assert [p.text for p in passages] == [
        "A heading\nFirst line runs on here. Second sentence.",
        "New paragraph.",
    ]
    assert [p.id for p in passages] == [7, 8]
    assert passages[1].start == text.index("New paragraph")
    assert passages[0].section == "Part"


# --- ranking --------------------------------------------------------------------------


def test_results_answer_the_question_with_scores_best_first(index: SearchIndex) -> None:
    result = index.search("Who is Jayne Butler?")
    assert isinstance(result, SearchResult)
    assert result.terms == ("jayne", "butler")
    assert "chief executive of Rape Crisis" in result.hits[0].passage.text
    scores = [hit.score for hit in result.hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)


def test_only_matching_passages_are_returned(index: SearchIndex) -> None:
    result = index.search("Jayne Butler", k=50)
    assert 0 < len(result.hits) < 50
    assert all("Butler" in hit.passage.text for hit in result.hits)


def test_k_bounds_the_number_of_hits(index: SearchIndex) -> None:
    assert len(index.search("police", k=3).hits) == 3
    assert index.search("police", k=0).hits == ()


def test_long_chatty_questions_find_the_same_answers(index: SearchIndex) -> None:
    short = index.search("PaDP disbanded")
    long = index.search(
        "Could you please tell me what exactly it was that the review actually said "
        "about whether or not the PaDP should be disbanded, if it did say anything?"
    )
    assert short.hits[0].passage == long.hits[0].passage
    assert "disbanding PaDP" in long.hits[0].passage.text


def test_question_framing_words_do_not_outvote_the_topic(index: SearchIndex) -> None:
    # "report" and "said" are everywhere in coverage of a report; "vetting" is the topic.
    for hit in index.search("What did the report say about vetting?").hits[:3]:
        assert "vet" in hit.passage.text.lower(), hit.passage.text


def test_frame_words_still_count_when_they_are_the_topic(index: SearchIndex) -> None:
    result = index.search("What did Rape Crisis say about the report?")
    assert "Jayne Butler" in result.hits[0].passage.text


def test_one_document_does_not_fill_the_top_five(index: SearchIndex) -> None:
    result = index.search("homophobia")
    top = [hit.passage.document_id for hit in result.hits[:5]]
    assert len(set(top)) > 1
    assert top.count(REVIEW) <= 2


def test_one_document_fills_the_results_when_nothing_else_matches(index: SearchIndex) -> None:
    result = index.search("Peelian", k=5)
    assert {hit.passage.document_id for hit in result.hits} == {REVIEW}
    assert len(result.hits) >= 3


# --- shared quotations ----------------------------------------------------------------


@pytest.mark.parametrize(
    "quote",
    [
        "fridges and freezers containing evidence including the rape kits",
        "Female officers and staff routinely face sexism and misogyny",
    ],
)
def test_a_quotation_in_two_outlets_is_one_hit_in_the_reports_words(
    index: SearchIndex, quote: str
) -> None:
    result = index.search(quote, k=10)
    carrying = [h for h in result.hits if quote.lower() in h.passage.text.lower()]
    # Only one copy is shown, and it is the review's own (the outlets are named beside it).
    assert [h.passage.document_id for h in carrying] == [REVIEW]
    best = carrying[0]
    assert NATIONAL in best.also_in
    assert best.passage.document_id not in best.also_in


def test_a_news_passage_joining_several_quotations_is_not_replaced_by_an_unrelated_one(
    index: SearchIndex,
) -> None:
    # The National quotes finding 5 and finding 7 in one passage; asked about sexism, the
    # review's passage on fridges must not stand in for it.
    hits = index.search("Female officers and staff routinely face sexism").hits
    assert "sexism" in hits[0].passage.text
    assert all("fridges" not in h.passage.text for h in hits[:2])


def test_also_in_is_empty_for_a_quotation_only_one_outlet_has(index: SearchIndex) -> None:
    hit = index.search("WhatsApp messages").hits[0]
    assert "WhatsApp" in hit.passage.text
    assert hit.also_in == ()


# --- excerpts -------------------------------------------------------------------------


def test_excerpt_highlights_words_matched_by_stem(index: SearchIndex) -> None:
    result = index.search("vetting")
    words = {w.lower() for hit in result.hits for w in highlighted(hit)}
    assert "vetting" in words
    assert words & {"vet", "re-vetting", "re-vetted"}
    for hit in result.hits:
        assert all("vet" in w.lower() for w in highlighted(hit))


def test_excerpt_is_short_and_marks_its_cuts(index: SearchIndex) -> None:
    for hit in index.search("overstuffed fridges rape kits test results", k=5).hits:
        text = shown(hit)
        assert len(text) <= 240
        assert highlighted(hit)
        body = text.strip("…")
        assert body in re.sub(r"\s+", " ", hit.passage.text)
        if len(hit.passage.text) > 240:
            assert text.startswith("…") or text.endswith("…")


def test_excerpt_cuts_at_word_boundaries_around_the_match(index: SearchIndex) -> None:
    hit = index.search("Sapphire").hits[0]
    text = shown(hit)
    assert "Sapphire" in highlighted(hit)
    passage_words = set(re.sub(r"\s+", " ", hit.passage.text).split())
    for word in text.strip("…").split():
        assert word in passage_words


# --- typos and questions that match nothing -------------------------------------------


def test_misspelt_words_are_corrected_from_the_corpus(index: SearchIndex) -> None:
    result = index.search("misogny and veting")
    assert result.corrections == (("misogny", "misogyny"), ("veting", "vetting"))
    assert result.terms == ("misogyny", "vetting")
    assert result.suggestions == ("misogyny", "vetting")
    assert result.hits


def test_real_words_missing_from_the_corpus_are_not_corrected_into_others(
    index: SearchIndex,
) -> None:
    result = index.search("How many borough commands were merged?")
    assert result.corrections == ()
    assert "merged" not in result.terms


def test_common_english_words_are_not_corrected_into_document_words(index: SearchIndex) -> None:
    # The documents have "place", "card" and "spending", and none of these words.
    result = index.search("Is the Met using number plate recognition to watch where cars go?")
    assert result.corrections == ()
    assert index.search("How many speeding tickets does the Met issue?").corrections == ()


def test_english_frequencies_come_from_the_installed_word_list() -> None:
    english = English()
    assert 3.5 < (english.zipf("drones") or 0) < 4.5
    assert (english.zipf("the") or 0) > 7
    assert english.zipf("misogny") == 0.0  # a typo is no English word
    assert english.is_common("plate") and not english.is_common("misogny")


def test_a_word_list_file_is_read_by_frequency_band(tmp_path: Path) -> None:
    path = tmp_path / "words.msgpack.gz"
    bands: list[object] = [{"format": "cB", "version": 1}] + [[] for _ in range(501)]
    bands[1 + 400] = ["plate"]  # 400 centibels below 1: Zipf 9 - 4 = 5.0
    bands[1 + 500] = ["drone", "plate"]  # a word's first band is its frequency
    path.write_bytes(gzip.compress(msgpack.packb(bands)))
    english = English(path)
    assert english.zipf("plate") == 5.0
    assert english.zipf("drone") == 4.0
    assert english.zipf("absent") == 0.0
    path.unlink()  # a second index (another inquiry) shares the table already read
    assert English(path).zipf("plate") == 5.0


def test_without_the_word_list_correction_works_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    english = English(tmp_path / "missing.msgpack.gz")
    lexicon = Lexicon(["card", "vetting"], [3, 5], english)
    with caplog.at_level(logging.WARNING):
        assert lexicon.correction("cars") == "card"
        assert lexicon.correction("veting") == "vetting"
    assert english.zipf("cars") is None
    assert sum("English word frequencies unavailable" in r.message for r in caplog.records) == 1
    assert Lexicon(["card"], [3], English()).correction("cars") is None


def test_a_question_matching_nothing_gets_nearby_words(index: SearchIndex) -> None:
    result = index.search("misogynyyyyy")
    assert result.hits == ()
    assert "misogyny" in result.suggestions
    assert len(result.suggestions) <= 5


def test_gibberish_gets_neither_hits_nor_suggestions(index: SearchIndex) -> None:
    result = index.search("xqzvk")
    assert result.hits == () and result.suggestions == ()


@pytest.mark.parametrize(
    "query",
    [
        "",
        "   ",
        "?!",
        "the and of what",
        "\x00\x07\x1b[31m\u200b\ufeff",
        "<script>alert(1)</script> <b></b> &amp;",
        "a" * 100_000,
        "vetting " * 20_000,
        "🙂 🚓",
    ],
)
def test_odd_queries_never_crash(index: SearchIndex, query: str) -> None:
    result = index.search(query)
    assert result.query == query
    assert len(result.terms) <= 1_000
    assert all(hit.score > 0 for hit in result.hits)


def test_markup_in_a_question_is_ignored(index: SearchIndex) -> None:
    result = index.search("<b>Sapphire</b>")
    assert result.terms == ("sapphire",)


# --- building, adding and the cache ---------------------------------------------------


def test_an_empty_corpus_searches_to_nothing(tmp_path: Path) -> None:
    index = SearchIndex.build([], cache_dir=tmp_path)
    assert index.passages == ()
    assert index.search("police").hits == ()


def test_second_build_loads_the_cache_and_answers_alike(
    corpus: Corpus, tmp_path: Path
) -> None:
    first = SearchIndex.build(corpus.documents, cache_dir=tmp_path)
    second = SearchIndex.build(corpus.documents, cache_dir=tmp_path)
    assert not first.from_cache and second.from_cache
    assert second.passages == first.passages
    question = "What did Rape Crisis say about the report?"
    assert second.search(question) == first.search(question)
    assert second.search("misogny").corrections == (("misogny", "misogyny"),)


def test_a_changed_document_rebuilds(corpus: Corpus, tmp_path: Path) -> None:
    SearchIndex.build(corpus.documents, cache_dir=tmp_path)
    changed = [
        Document(d.meta, d.text + "\n\nA zebra crossing was added.", d.sections)
        if d.id == NATIONAL
        else d
        for d in corpus.documents
    ]
    rebuilt = SearchIndex.build(changed, cache_dir=tmp_path)
    assert not rebuilt.from_cache
    assert rebuilt.search("zebra").hits[0].passage.document_id == NATIONAL


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "wrong arrays"])
def test_a_damaged_cache_is_rebuilt(corpus: Corpus, tmp_path: Path, damage: str) -> None:
    SearchIndex.build(corpus.documents, cache_dir=tmp_path)
    [path] = tmp_path.glob("*.npz")
    if damage == "garbage":
        path.write_bytes(b"not a cache at all" * 100)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as stored:
            arrays = dict(stored)
        arrays["indices"] = arrays["indices"] + 10_000_000
        with path.open("wb") as handle:
            np.savez(handle, **arrays)
    index = SearchIndex.build(corpus.documents, cache_dir=tmp_path)
    assert not index.from_cache
    assert "Rape Crisis" in index.search("Jayne Butler").hits[0].passage.text
    assert SearchIndex.build(corpus.documents, cache_dir=tmp_path).from_cache


def test_an_unwritable_cache_dir_still_builds(corpus: Corpus, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    index = SearchIndex.build(corpus.documents[:1], cache_dir=blocker / "cache")
    assert not index.from_cache and index.passages


def test_old_caches_are_pruned(tmp_path: Path) -> None:
    for number in range(8):
        SearchIndex.build([doc("d", f"Version {number} of the text.")], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) <= 4


def test_added_documents_become_searchable(index: SearchIndex) -> None:
    extra = doc("inquiry-note", "The Angiolini Inquiry looked at the Couzens case.")
    bigger = index.add_documents([extra])
    assert len(bigger.passages) == len(index.passages) + 1
    assert bigger.search("Angiolini").hits[0].passage.document_id == "inquiry-note"
    assert index.search("Angiolini").hits == ()


def test_adding_a_known_document_id_replaces_it() -> None:
    first = SearchIndex.build([doc("a", "Old words about horses."), doc("b", "Other text.")])
    second = first.add_documents([doc("a", "New words about ponies.")])
    assert second.search("horses").hits == ()
    assert second.search("ponies").hits[0].passage.document_id == "a"
    assert [d.id for d in second.documents] == ["b", "a"]


# --- scoring ----------------------------------------------------------------------------


def test_bm25_scores_are_the_ones_bm25s_computes(corpus: Corpus) -> None:
    """Our numpy build of the score tables against bm25s's own, on the seed documents (the
    index was built with bm25s before; its rankings must not change)."""
    import bm25s  # noqa: PLC0415 - the reference implementation, a test dependency

    from bot.search.tables import _Terms, bm25_scores, passages_of  # noqa: PLC0415
    from bot.search.text import raw_tokens  # noqa: PLC0415

    terms = _Terms()
    corpus_ids = []
    for passage in passages_of(corpus.documents):
        tokens = raw_tokens(passage.text)
        terms.learn(tokens)
        corpus_ids.append(terms.ids(tokens))
    reference = bm25s.BM25(k1=1.2, b=0.75)
    reference.index((corpus_ids, terms.term_ids), create_empty_token=False, show_progress=False)
    data, indices, indptr = bm25_scores(corpus_ids, len(terms.term_ids), 1.2, 0.75)
    assert np.array_equal(indptr, reference.scores["indptr"])
    assert np.array_equal(indices, reference.scores["indices"])
    assert np.allclose(data, reference.scores["data"], rtol=1e-5)
    assert bm25_scores([[], []], 3, 1.2, 0.75)[2].tolist() == [0, 0, 0, 0]
