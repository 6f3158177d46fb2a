"""Loading documents: cleaning, metadata sidecars, errors a maintainer would meet."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.documents import (
    CorpusError,
    default_corpus_dir,
    document_from_text,
    load_corpus,
    load_document,
)
from bot.documents.cleaning import clean_text
from bot.model import Corpus, Document, DocumentMeta

REPORT_ID = "casey-review-front-matter"
NATIONAL_ID = "the-national-met-institutionally-racist"

# Site furniture found in the collected pages; none of it may reach an answer.
FURNITURE = [
    "0 0 votes",
    "Article Rating",
    "Subscribe",
    "Notify of",
    "0 Comments",
    "Inline Feedbacks",
    "View all comments",
    "Would love your thoughts, please comment",
    "Discover more from",
    "Latest News Watford London & Hertfordshire UK | WatNews",
    "Subscribe now to keep reading",
    "Continue reading",
    "[mc4wp_form",
    "ALSO READ",
    "Read the Full report (PDF)",
    "Credit: Met Police",
    "CCTV image of Stephen Port (right)",
    "Want a quick and expert briefing",
    "Listen to our latest podcasts",
    "date 2023-03-21",
    "<a ",
    "href=",
    "</a>",
    "<i>",
]
# Furniture that is a whole line of one or two characters ("x" is in every other word).
FURNITURE_LINES = ["x", "×", "()", "0", "casey report"]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(default_corpus_dir())


def _doc(corpus: Corpus, doc_id: str) -> Document:
    doc = corpus.document(doc_id)
    assert doc is not None, doc_id
    return doc


# The seed corpus -------------------------------------------------------------------------------


def test_seed_documents_load_sorted_by_name_with_metadata(corpus: Corpus) -> None:
    assert [d.id for d in corpus.documents] == [
        "asian-lite-women-children-failed-by-met",
        REPORT_ID,
        "itv-news-scathing-casey-report",
        NATIONAL_ID,
        "translated-report-london-police-institutionally-racist",
    ]
    report = _doc(corpus, REPORT_ID).meta
    assert report.kind == "report"
    assert report.title == (
        "An independent review into the standards of behaviour and internal culture of the "
        "Metropolitan Police Service"
    )
    assert report.date == "2023-03-21"
    assert report.source == "Casey Review (via WatNews)"
    assert [d.meta.kind for d in corpus.documents].count("news") == 4
    itv = _doc(corpus, "itv-news-scathing-casey-report").meta
    assert itv.outlet == "ITV News"
    assert itv.title == (
        "Scathing Casey report finds Met Police repeatedly fails the communities it serves"
    )
    unknown_outlet = _doc(corpus, "translated-report-london-police-institutionally-racist").meta
    assert unknown_outlet.outlet is None
    assert unknown_outlet.source == unknown_outlet.title


def test_the_review_structure_comes_from_the_report(corpus: Corpus) -> None:
    assert len(corpus.structure.findings) == 8
    assert len(corpus.structure.recommendations) == 16
    assert {f.document_id for f in corpus.structure.findings} == {REPORT_ID}
    assert _doc(corpus, REPORT_ID).sections
    assert all(not d.sections for d in corpus.documents if d.meta.kind == "news")


def test_seed_files_are_kept_as_collected() -> None:
    seeds = default_corpus_dir()
    raw = (seeds / f"{REPORT_ID}.txt").read_text(encoding="utf-8")
    assert raw.startswith("×\n")
    assert "told me:" in raw and "abused.”8 Reverend" in raw
    assert "Continue reading" in raw


@pytest.mark.parametrize("furniture", FURNITURE)
def test_site_furniture_never_reaches_a_document(corpus: Corpus, furniture: str) -> None:
    for doc in corpus.documents:
        assert furniture not in doc.text, doc.id


@pytest.mark.parametrize("line", FURNITURE_LINES)
def test_furniture_lines_are_removed(corpus: Corpus, line: str) -> None:
    for doc in corpus.documents:
        assert line not in doc.text.split("\n"), doc.id


def test_headline_printed_twice_appears_once(corpus: Corpus) -> None:
    text = _doc(corpus, REPORT_ID).text
    headline = "Casey Report finds Met police to be institutionally racist, misogynistic"
    assert text.count(headline) == 1
    assert text.startswith(headline)


def test_footnote_markers_are_stripped_and_real_numbers_kept(corpus: Corpus) -> None:
    report = _doc(corpus, REPORT_ID).text
    assert "”8" not in report
    assert "they abused.” Reverend Smallman also told me" in report
    assert "the Met’s reactive capabilities" in report
    assert "Specialist Firearms (MO19) Commands" in report
    assert "9.1.1. Introduction" in report
    assert "The Met is a £4 billion public institution." in report
    assert "a high point of 89% in 2016" in report
    national = _doc(corpus, NATIONAL_ID).text
    assert "I have got 25 detective constables" in national


def test_html_is_removed_but_link_text_kept(corpus: Corpus) -> None:
    text = _doc(corpus, NATIONAL_ID).text
    assert text.startswith("London’s Metropolitan Police force is institutionally racist")
    assert "has put “Londoners last”" in text
    assert "speaking on BBC Breakfast. “I know" in text


def test_lines_broken_mid_sentence_are_joined(corpus: Corpus) -> None:
    report = _doc(corpus, REPORT_ID).text
    assert "I completely understand why they feel that way." in report
    assert "and that those who breach the standards face the consequences" in report
    # a sub-point starting in lower case is not a broken sentence
    assert "sexual exploitation and grooming\nii) provide training" in report


def test_paragraph_breaks_are_kept(corpus: Corpus) -> None:
    itv = _doc(corpus, "itv-news-scathing-casey-report").text
    assert "\n\nBlack Londoners, in particular, the report finds" in itv
    for doc in corpus.documents:
        assert "\n\n\n" not in doc.text
        assert doc.text == doc.text.strip()


def test_the_leading_date_stamp_is_removed(corpus: Corpus) -> None:
    text = _doc(corpus, "translated-report-london-police-institutionally-racist").text
    assert text.startswith("The London police are institutionally racist")


# clean_text on its own ------------------------------------------------------------------------


def test_entities_are_decoded_once() -> None:
    assert clean_text("Fish &amp; chips &ndash; &#8220;hot&#8221;") == "Fish & chips – “hot”"
    assert clean_text("Write &lt;b&gt; for bold.") == "Write <b> for bold."


def test_html_paragraphs_become_paragraphs() -> None:
    html = "<p>First <b>bold</b> paragraph.</p><p>Second, with a <a href='/x'>link</a>.</p>"
    assert clean_text(html) == "First bold paragraph.\n\nSecond, with a link."


def test_any_shortcode_is_removed_but_editorial_brackets_stay() -> None:
    raw = (
        "It was about being a Special [Constable].\n"
        'Sign-up box: [newsletter_signup list="7"] here.\n'
        "[gallery]"
    )
    assert clean_text(raw) == "It was about being a Special [Constable].\nSign-up box: here."


def test_another_sites_furniture_is_removed_by_the_same_rules() -> None:
    raw = (
        "Council fails tenants\n\nThe council failed its tenants, the ombudsman said.\n\n"
        "READ MORE: Tenants win damages\n"
        "A flooded flat in Leeds Credit: PA Images\n"
        "Listen to our weekly podcast, Sign up for our newsletter\n"
        "3 Comments\n"
        "Continue reading →"
    )
    assert clean_text(raw) == (
        "Council fails tenants\n\nThe council failed its tenants, the ombudsman said."
    )


def test_a_heading_with_credit_in_it_is_kept() -> None:
    raw = "Universal Credit: the impact on families\nClaims rose by a third."
    assert clean_text(raw) == raw


def test_cleaning_twice_changes_nothing(corpus: Corpus) -> None:
    for doc in corpus.documents:
        assert clean_text(doc.text) == doc.text


# Loading a folder ------------------------------------------------------------------------------


def test_a_folder_without_metadata_uses_file_names_as_titles(tmp_path: Path) -> None:
    (tmp_path / "harbour_inquiry-opening-statement.txt").write_text(
        "The inquiry opened today.\n", encoding="utf-8"
    )
    (tmp_path / "notes.md").write_text("# Notes\n\nSee [the site](https://example.org).\n")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    corpus = load_corpus(tmp_path)
    assert [d.id for d in corpus.documents] == ["harbour_inquiry-opening-statement", "notes"]
    meta = corpus.documents[0].meta
    assert meta == DocumentMeta(
        id="harbour_inquiry-opening-statement",
        title="harbour inquiry opening statement",
        outlet=None,
        date=None,
        kind="news",
        url=None,
    )
    assert corpus.documents[1].text == "Notes\n\nSee the site."
    assert corpus.structure.findings == ()


def test_a_sidecar_gives_the_metadata(tmp_path: Path) -> None:
    (tmp_path / "statement.txt").write_text("Text.", encoding="utf-8")
    (tmp_path / "statement.json").write_text(
        json.dumps({"title": "Opening statement", "outlet": "The Inquiry", "date": "2024-05-01"})
    )
    doc = load_document(tmp_path / "statement.txt")
    assert (doc.meta.title, doc.meta.outlet, doc.meta.date, doc.meta.kind) == (
        "Opening statement",
        "The Inquiry",
        "2024-05-01",
        "news",
    )


def test_bad_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "statement.txt").write_text("Text.", encoding="utf-8")
    (tmp_path / "statement.json").write_text('{"title": "Opening statement",}')
    with pytest.raises(CorpusError, match="statement.json.*not valid JSON"):
        load_corpus(tmp_path)


@pytest.mark.parametrize(
    ("sidecar", "message"),
    [
        ('["a list"]', "must be a JSON object"),
        ('{"title": 7}', "'title' must be a string"),
        ('{"date": "21 March 2023"}', "'date' must be an ISO date"),
    ],
)
def test_wrong_metadata_is_explained(tmp_path: Path, sidecar: str, message: str) -> None:
    (tmp_path / "statement.txt").write_text("Text.", encoding="utf-8")
    (tmp_path / "statement.json").write_text(sidecar)
    with pytest.raises(CorpusError, match=message):
        load_corpus(tmp_path)


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CorpusError, match="not found") as caught:
        load_corpus(missing)
    assert str(missing) in str(caught.value)


def test_a_folder_without_documents_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "readme.rst").write_text("Nothing here.")
    with pytest.raises(CorpusError, match=r"no documents \(.*\.md.*\.pdf.*\.txt\) in") as caught:
        load_corpus(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_two_files_with_one_name_are_refused(tmp_path: Path) -> None:
    (tmp_path / "statement.txt").write_text("One.")
    (tmp_path / "statement.md").write_text("Two.")
    with pytest.raises(CorpusError, match="share the name 'statement'"):
        load_corpus(tmp_path)


def test_an_unmarked_report_still_gives_the_structure(tmp_path: Path) -> None:
    shutil.copy(default_corpus_dir() / f"{REPORT_ID}.txt", tmp_path / "review.txt")
    (tmp_path / "a-news-story.txt").write_text("The review was published today.")
    corpus = load_corpus(tmp_path)
    assert len(corpus.structure.findings) == 8
    assert len(corpus.structure.recommendations) == 16
    review = corpus.document("review")
    assert review is not None and review.meta.kind == "news"
    assert any(s.title == "Recommendation 11" for s in review.sections)


def test_document_from_text_cleans_and_marks_a_report() -> None:
    raw = (default_corpus_dir() / f"{REPORT_ID}.txt").read_text(encoding="utf-8")
    report = document_from_text(raw, DocumentMeta(id="r", title="Review", kind="report"))
    assert "Article Rating" not in report.text
    assert any(s.title.startswith("Finding 1: ") for s in report.sections)
    news = document_from_text(raw, DocumentMeta(id="n", title="Story"))
    assert news.text == report.text
    assert news.sections == ()
