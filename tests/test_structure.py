"""The review's findings, recommendations and contents, read from its text by program."""

from __future__ import annotations

import pytest

from bot.documents import default_corpus_dir, load_corpus
from bot.documents.cleaning import clean_text
from bot.documents.structure import extract_structure
from bot.model import Corpus, Document, ReviewStructure, TocEntry

REPORT_ID = "casey-review-front-matter"

FINDING_TITLES = [
    "There are systemic and fundamental problems in how the Met is run",
    "The Met has not managed the integrity of its own police service",
    "The Met’s new leadership represent a welcome change of tone and approach. However, deep "
    "seated cultures need to be tackled in order for change to be sustained",
    "Londoners have been put last",
    "London’s women and children have been left even further behind",
    "The Met lacks accountability and transparency",
    "Discrimination is tolerated, not dealt with and has become baked into the system",
    "The Met is in danger of losing its way – consent is broken",
]

CLEANING_UP = "Cleaning up the Met"
WOMEN = "A new offer to women and children"
TRUST = "Building trust with London’s communities to restore consent"
DEAL = "A new police deal for Londoners"
LEADERSHIP = "New leadership and new management"
OVERSIGHT = "New oversight and accountability"
SHOWING = "Showing London that reform is working"

RECOMMENDATIONS = [
    (CLEANING_UP, "The misconduct process is not fit for purpose"),
    (
        CLEANING_UP,
        "The Met should embed and enforce the highest policing ethical values and standards "
        "across all of its systems and management, from recruitment and vetting through to "
        "supervision and the misconduct process, making sure these are adhered to by all its "
        "officers and staff, and that those who breach the standards face the consequences "
        "the public would expect",
    ),
    (
        CLEANING_UP,
        "Vetting standards should be changed with immediate effect to guard against those who "
        "intend to abuse the powers of a police officer",
    ),
    (
        CLEANING_UP,
        "Some of the worst cultures, behaviours and practices identified by the Review have "
        "been found in specialist firearms units, where standards should be at their absolute "
        "highest",
    ),
    (
        CLEANING_UP,
        "The Government should expedite providing the Commissioner with new powers to support "
        "his efforts to rapidly reform and clean up the Met, including",
    ),
    (
        WOMEN,
        "The Met should radically reform and re-specialise Public Protection Teams, including "
        "the establishment of new Specialist ‘Soteria’ teams to deal with rape and serious "
        "sexual offences",
    ),
    (
        WOMEN,
        "The Met should create an overarching children’s strategy for London to address "
        "long-standing concerns about its child protection and safeguarding practices",
    ),
    (
        TRUST,
        "The Met should be reformed so that the Peelian principles of policing by consent – "
        "securing and maintaining the respect and approval of the public – are its guiding "
        "principles, and the measures against which all of its policies and practices are "
        "tested",
    ),
    (
        TRUST,
        "The Met should introduce a new process with Londoners to apologise for past failings "
        "and rebuild consent, particularly with communities where this is most at risk",
    ),
    (TRUST, "The use of stop and search in London by the Met needs a fundamental reset"),
    (
        DEAL,
        "Frontline officers are those who Londoners see and depend on the most from day to day "
        "but feel demoralised, let down by their leaders, and exposed to high stress and "
        "pressure",
    ),
    (DEAL, "Londoners’ voices are missing from how London is policed"),
    (
        LEADERSHIP,
        "The Commissioner and Deputy Commissioner, building on their recent appointments to "
        "lead the Met, should bring in new specialist expertise from outside the Met in "
        "permanent – rather than advisory – roles",
    ),
    (
        OVERSIGHT,
        "A new governance structure should be introduced to oversee and scrutinise the changes "
        "needed and ensure full transparency and accountability to Londoners, while "
        "maintaining the operational independence of the Commissioner",
    ),
    (
        SHOWING,
        "The Met and the Mayor of London should commission independent progress reviews after "
        "two years, and again after five years, so that Londoners can have trust and "
        "confidence that reform is taking place",
    ),
    (
        SHOWING,
        "The key measures used to test whether these reforms are taking place and delivering "
        "reforms at the scale and pace necessary should include",
    ),
]


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return load_corpus(default_corpus_dir())


@pytest.fixture(scope="module")
def review(corpus: Corpus) -> ReviewStructure:
    return corpus.structure


@pytest.fixture(scope="module")
def report(corpus: Corpus) -> Document:
    doc = corpus.document(REPORT_ID)
    assert doc is not None
    return doc


def _entry(entries: tuple[TocEntry, ...], number: str) -> TocEntry:
    for entry in entries:
        if entry.number == number:
            return entry
        found = [child for child in entry.children if child.number == number]
        if found:
            return found[0]
    raise AssertionError(f"no contents entry numbered {number}")


# Findings -----------------------------------------------------------------------------------


def test_the_eight_findings_are_found_with_their_exact_titles(review: ReviewStructure) -> None:
    assert [f.number for f in review.findings] == list(range(1, 9))
    assert [f.title for f in review.findings] == FINDING_TITLES
    assert all(f.document_id == REPORT_ID for f in review.findings)


@pytest.mark.parametrize(
    ("number", "first", "last"),
    [
        (1, "The size of the Met makes it challenging to operate", "are less likely to join."),
        (2, "This Met is tasked with upholding law and order", "remains vulnerable to threat."),
        (3, "When he became Commissioner in 1972", "let down by their leaders."),
        (4, "The frontline has been deprioritised.", "Violent Crime Task Force and the TSG."),
        (6, "The Met is a £4 billion public institution.", "support it to change."),
        (8, "The Met’s key values, the College of Policing’s", "their reasons for it."),
    ],
)
def test_finding_bodies_are_whole(
    review: ReviewStructure, number: int, first: str, last: str
) -> None:
    body = review.findings[number - 1].text
    assert body.startswith(first)
    assert body.endswith(last)


def test_a_run_in_title_is_not_repeated_in_the_body(review: ReviewStructure) -> None:
    assert "how the Met is run The size" not in review.findings[0].text
    assert "police service This Met" not in review.findings[1].text
    assert "to be sustained" not in review.findings[2].text


def test_the_four_tests_stay_inside_finding_seven(review: ReviewStructure) -> None:
    body = review.findings[6].text
    assert "• 1. Clearly not everyone in the Met is racist" in body
    assert "• 4. The Met under-protects and over-polices Black Londoners" in body
    assert body.endswith("in order to move forward.")
    assert not any(f.title.startswith("Clearly not everyone") for f in review.findings)


def test_the_last_finding_stops_before_the_recommendations(review: ReviewStructure) -> None:
    assert "Fixing the Met" not in review.findings[7].text
    assert "The Review hopes the Met" not in review.findings[7].text


# Recommendations --------------------------------------------------------------------------


def test_the_sixteen_recommendations_have_their_titles_and_themes(
    review: ReviewStructure,
) -> None:
    assert [r.number for r in review.recommendations] == list(range(1, 17))
    assert [(r.theme, r.title) for r in review.recommendations] == RECOMMENDATIONS


def test_themes_in_order(review: ReviewStructure) -> None:
    assert review.themes == (CLEANING_UP, WOMEN, TRUST, DEAL, LEADERSHIP, OVERSIGHT, SHOWING)


def test_recommendation_eleven_is_inferred_from_its_place(review: ReviewStructure) -> None:
    rec = review.recommendations[10]
    assert rec.number == 11
    assert rec.number_inferred
    assert rec.theme == DEAL
    assert rec.text.startswith("Frontline officers are those who Londoners see")
    assert "To rebuild trust, confidence and consent" not in rec.text
    assert len(rec.points) == 3
    assert rec.points[0].startswith("The Met should build a frontline policing service")
    assert rec.points[2].endswith("making access to counselling and other services easy.")
    assert [r.number for r in review.recommendations if r.number_inferred] == [11]


def test_sub_points_belong_to_their_recommendation(review: ReviewStructure) -> None:
    recs = review.recommendations
    assert len(recs[3].points) == 4
    assert recs[3].points[3].startswith("installing new, external management")
    assert "The Government should expedite" not in recs[3].text
    assert len(recs[4].points) == 5
    assert recs[4].points[4].startswith("strengthening the pension forfeiture rules")
    assert len(recs[13].points) == 2
    assert recs[13].points[1].startswith("The Commissioner should continue to chair")
    assert len(recs[15].points) == 7
    assert recs[15].points[0].startswith("Improvements in public trust, confidence and fairness")
    assert recs[15].points[6].endswith("the make-up of the city it polices.")
    assert recs[0].points == ()


def test_recommendation_texts_are_whole_without_theme_introductions(
    review: ReviewStructure,
) -> None:
    recs = review.recommendations
    assert recs[9].text.startswith("The use of stop and search")
    assert recs[9].text.endswith("a receipt confirming the details of the stop.")
    assert recs[6].text.endswith("who need protection from harm.")
    assert "Public respect has fallen" not in recs[6].text
    assert "Public consent is broken" not in recs[7].text
    assert "We have found widespread bullying" not in recs[0].text
    assert recs[11].text.endswith("deliver strong and consistent community engagement.")
    assert "There are systemic and fundamental problems" not in recs[12].text
    assert all(not r.text[:3].rstrip(".").isdigit() for r in recs)


# Contents ------------------------------------------------------------------------------------


def test_contents_are_grouped_into_twenty_two_parts(review: ReviewStructure) -> None:
    parts = review.chapters
    assert len(parts) == 22
    assert [p.title for p in parts[:4]] == [
        "Foreword",
        "Summary and conclusions",
        "Fixing the Met – Recommendations",
        "Introduction and context",
    ]
    assert [p.page for p in parts[:4]] == [6, 9, 19, 26]
    assert parts[-1].number == "Annex C"
    assert parts[-1].title == "The Review Team"
    assert parts[-1].page == 363


def test_recommendation_themes_are_children_of_the_recommendations_entry(
    review: ReviewStructure,
) -> None:
    recs = review.chapters[2]
    assert tuple(c.title for c in recs.children) == review.themes
    assert [c.page for c in recs.children] == [20, 21, 22, 22, 23, 23, 24]
    assert "Introduction and context" not in [c.title for c in recs.children]


def test_numbered_sections_sit_under_their_chapter(review: ReviewStructure) -> None:
    chapter_three = _entry(review.chapters, "Chapter 3")
    assert chapter_three.title == "How the Met is run"
    assert chapter_three.page == 76
    assert len(chapter_three.children) == 12
    chapter_nine = _entry(review.chapters, "Chapter 9")
    assert [(c.number, c.title) for c in chapter_nine.children] == [
        ("9.i", "Introduction"),
        ("9.ii", "Bullying"),
    ]
    assert _entry(review.chapters, "Chapter 9.2").title == "Sexism and Misogyny"
    assert _entry(review.chapters, "9.1.2").title.startswith("LGBTQ+ officers and staff")
    case_studies = [p for p in review.chapters if p.title == "Case studies"]
    assert case_studies and case_studies[0].page == 168 and case_studies[0].number is None


@pytest.mark.parametrize(("number", "page"), [("3.7", 84), ("5.16", 167), ("9.2.7", 274)])
def test_glued_footnote_digits_are_taken_off_page_numbers(
    review: ReviewStructure, number: str, page: int
) -> None:
    assert _entry(review.chapters, number).page == page


def test_contents_pages_never_go_down(review: ReviewStructure) -> None:
    pages = [
        entry.page
        for part in review.chapters
        for entry in (part, *part.children)
        if entry.page is not None
    ]
    assert pages == sorted(pages)


def test_an_entry_wrapped_over_two_lines_is_one_entry(review: ReviewStructure) -> None:
    entry = _entry(review.chapters, "5.13")
    assert entry.title == (
        "How the Met deals with rape and serious sexual offending: findings from "
        "Operation Soteria Bluestone"
    )
    assert entry.page == 162
    chapter_five = _entry(review.chapters, "Chapter 5")
    assert [c.number for c in chapter_five.children] == [f"5.{n}" for n in range(1, 17)]


# Sections ------------------------------------------------------------------------------------


def _section_text(doc: Document, title: str) -> str:
    found = [s for s in doc.sections if s.title == title]
    assert found, f"no section {title!r}"
    return doc.text[found[0].start : found[0].end]


def test_foreword_and_summary_sections(report: Document) -> None:
    foreword = _section_text(report, "Foreword")
    assert foreword.startswith("Only two years ago, in March 2021")
    assert foreword.endswith("This is the moment for it to do so.")
    summary = _section_text(report, "Summary and conclusions")
    assert summary.startswith("The Met has faced significant challenges")
    assert summary.endswith("their reasons for it.")


def test_findings_themes_and_recommendations_have_sections(report: Document) -> None:
    titles = [s.title for s in report.sections]
    assert "Finding 4: Londoners have been put last" in titles
    assert sum(t.startswith("Finding ") for t in titles) == 8
    assert sum(t.startswith("Recommendation ") for t in titles) == 16
    assert "Fixing the Met – Recommendations" in titles
    assert DEAL in titles
    assert _section_text(report, "Recommendation 11").startswith("Frontline officers")
    assert _section_text(report, "Recommendation 12").startswith("12. Londoners’ voices")


@pytest.mark.parametrize(
    ("quote", "section"),
    [
        ("If a plane fell out of the sky tomorrow", "Foreword"),
        ("fridges and freezers containing evidence", "Finding 5: " + FINDING_TITLES[4]),
        ("Clearly not everyone in the Met is racist", "Finding 7: " + FINDING_TITLES[6]),
        ("external management to oversee the Specialist Training Centre", "Recommendation 4"),
        ("To rebuild trust, confidence and consent", DEAL),
        ("BCU Commanders in the Met should be empowered", "Recommendation 11"),
        ("The Review hopes the Met", "Fixing the Met – Recommendations"),
    ],
)
def test_a_quote_is_cited_by_its_innermost_section(
    report: Document, quote: str, section: str
) -> None:
    offset = report.text.index(quote)
    assert report.section_at(offset) == section


# Another inquiry -----------------------------------------------------------------------------

HARBOURSIDE = """\
Harbourside Water Inquiry: final report

Contents
Preface ............................................ 3
Key findings ....................................... 5
Recommendations .................................... 9
Safer supply ....................................... 9
Listening to residents ............................. 10
Part 1: The contamination of 2019 .................. 12
1.1. What happened ................................. 12
1.2. The warnings that were missed: evidence from
Harbour Lane Laboratory ............................ 147
1.3. The response ·································· 15
Part 2. The regulator .............................. 20
2.1. Powers ........................................ 20
Appendix A. Evidence received ...................... 30

Preface
In the summer of 2019 the water in Harbourside made hundreds of people ill.
I was asked to find out why.

Key findings
The Inquiry's findings are these.

1. The utility ignored its own testing data Its laboratory flagged the contamination
three times. Nobody acted on the flags.

2. Residents were not told in time When the first samples failed, the utility waited
eleven days before telling anyone.
These are the days that mattered most.

3. Oversight was fragmented
The regulator and the council each assumed the other was watching.
Their reports were never compared.

Recommendations
The Inquiry makes the following recommendations.

Safer supply
The supply must be made safe before anything else.
1. The utility should publish every test result within 24 hours.
2. An independent laboratory should audit testing each year, including:
a) unannounced sampling at the treatment works
b) a public report of every audit

Listening to residents
Residents must be heard.
A residents' panel should be set up with the power to call the chief executive to account:
i) the panel should meet in public
ii) its minutes should be published
4. The council should run a helpline staffed every day of the year.

Part 1: The contamination of 2019
The first complaints came in June.
5. A numbered paragraph of the chapter is not a recommendation.
"""


Extracted = tuple[ReviewStructure, str, tuple[str, ...]]


@pytest.fixture(scope="module")
def harbourside() -> Extracted:
    text = clean_text(HARBOURSIDE)
    structure, sections = extract_structure(text, "harbourside")
    return structure, text, tuple(s.title for s in sections)


def test_another_inquiry_findings(harbourside: Extracted) -> None:
    structure, _, _ = harbourside
    assert [(f.number, f.title) for f in structure.findings] == [
        (1, "The utility ignored its own testing data"),
        (2, "Residents were not told in time"),
        (3, "Oversight was fragmented"),
    ]
    assert structure.findings[0].text.startswith("Its laboratory flagged")
    assert structure.findings[1].text.endswith("These are the days that mattered most.")
    assert structure.findings[2].text.endswith("Their reports were never compared.")
    assert all(f.document_id == "harbourside" for f in structure.findings)


def test_another_inquiry_recommendations(
    harbourside: Extracted,
) -> None:
    structure, _, _ = harbourside
    recs = structure.recommendations
    assert [(r.number, r.theme, r.number_inferred) for r in recs] == [
        (1, "Safer supply", False),
        (2, "Safer supply", False),
        (3, "Listening to residents", True),
        (4, "Listening to residents", False),
    ]
    assert recs[1].title == "An independent laboratory should audit testing each year, including"
    assert recs[1].points == (
        "unannounced sampling at the treatment works",
        "a public report of every audit",
    )
    assert recs[2].title == (
        "A residents' panel should be set up with the power to call the chief executive to account"
    )
    assert recs[2].points == ("the panel should meet in public", "its minutes should be published")
    assert "Residents must be heard" not in recs[2].text
    assert "made safe before anything else" not in recs[0].text
    assert recs[3].text == "The council should run a helpline staffed every day of the year."


def test_another_inquiry_contents(harbourside: Extracted) -> None:
    structure, _, _ = harbourside
    parts = structure.chapters
    assert [(p.number, p.title) for p in parts] == [
        (None, "Preface"),
        (None, "Key findings"),
        (None, "Recommendations"),
        ("Part 1", "The contamination of 2019"),
        ("Part 2", "The regulator"),
        ("Appendix A", "Evidence received"),
    ]
    assert [c.title for c in parts[2].children] == ["Safer supply", "Listening to residents"]
    wrapped = parts[3].children[1]
    assert wrapped.number == "1.2"
    assert wrapped.title == ("The warnings that were missed: evidence from Harbour Lane Laboratory")
    assert wrapped.page == 14
    assert [c.page for c in parts[3].children] == [12, 14, 15]


def test_another_inquiry_sections(harbourside: Extracted) -> None:
    _, _, titles = harbourside
    assert titles[:3] == (
        "Preface",
        "Key findings",
        "Finding 1: The utility ignored its own testing data",
    )
    assert "Recommendation 3" in titles
    assert "Listening to residents" in titles


def test_a_news_report_has_no_structure() -> None:
    text = clean_text("The Met was criticised today.\n\nThe report made 16 recommendations.")
    structure, sections = extract_structure(text, "news")
    assert structure == ReviewStructure()
    assert sections == ()
