"""The layouts inquiry reports use, each read into exact items, and no list when the
numbering does not hold together.

The fixtures are fictional inquiries laid out as real reports are: the Stephen Lawrence
Inquiry's capitalised recommendations chapter with themes, the Manchester Arena Inquiry's
"Monitored Recommendations" after its list, the Infected Blood Inquiry's numbered
recommendation headings with sub-points, the Post Office Horizon IT Inquiry's bracketed
numbers, the Grenfell Tower Inquiry's paragraphs numbered by chapter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.inquiry_reports import BODY, ask, structure_of


def test_numbered_recommendations_under_capital_headings_and_themes(tmp_path: Path) -> None:
    """Recommendations as "1. That ..." paragraphs under themes, in a closing chapter whose
    headings are printed in capitals (as the Stephen Lawrence Inquiry's report is)."""
    corpus = structure_of(tmp_path, f"""CHAPTER FORTY
CONCLUSIONS

{BODY}

CHAPTER FORTY-ONE
RECOMMENDATIONS

Openness and accountability

1. That a ministerial priority be set for all police services.

2. That inspectors be given full powers to inspect every force.

Definition of a hate incident

3. That a hate incident be any incident which is perceived to be so by the victim.
""")
    recs = corpus.structure.recommendations
    assert [(r.number, r.theme) for r in recs] == [
        (1, "Openness and accountability"),
        (2, "Openness and accountability"),
        (3, "Definition of a hate incident"),
    ]
    assert recs[0].title == "That a ministerial priority be set for all police services"


def test_monitored_recommendations_after_the_list_are_not_mixed_in(tmp_path: Path) -> None:
    """A second, regrouped list after the recommendations (the Manchester Arena Inquiry's
    "Monitored Recommendations") does not join them."""
    corpus = structure_of(tmp_path, f"""Part 8: conclusions and recommendations

{BODY}

Recommendations

Recommendation 1: The operator should search every bag at the outer perimeter.

Recommendation 2: Stewards should be trained to report suspicious behaviour.

Monitored Recommendations

Of the recommendations above, I will monitor these.

Monitored Recommendation 1: Perimeter searches (Recommendation 1).
""")
    recs = corpus.structure.recommendations
    assert [(r.title, r.theme) for r in recs] == [
        ("The operator should search every bag at the outer perimeter", ""),
        ("Stewards should be trained to report suspicious behaviour", ""),
    ]


def test_numbered_recommendation_headings_with_sub_points(tmp_path: Path) -> None:
    """A recommendation's number and short title on a line, then its text and sub-points
    "(a)" and "(i)" (the Infected Blood Inquiry's layout)."""
    corpus = structure_of(tmp_path, f"""Recommendations

1. Compensation
A scheme should be set up without delay. {BODY}
(a) it should be open to everyone infected;
(b) it should pay interim sums now:
(i) to the bereaved;
(ii) to carers.

2. Apology
The government should apologise to every person infected.
""")
    recs = corpus.structure.recommendations
    assert [r.title for r in recs] == ["Compensation", "Apology"]
    assert recs[0].points == (
        "it should be open to everyone infected;",
        "it should pay interim sums now:",
        "to the bereaved;",
        "to carers.",
    )


def test_conclusions_numbered_in_brackets(tmp_path: Path) -> None:
    corpus = structure_of(tmp_path, f"""Summary of conclusions

(1) The system was not robust. {BODY}

(2) Branch accounts were wrong. {BODY}

(3) Managers knew of the errors. {BODY}

Chapter 2 The background

{BODY}
""")
    assert [f.title for f in corpus.structure.findings] == [
        "The system was not robust",
        "Branch accounts were wrong",
        "Managers knew of the errors",
    ]


def test_paragraphs_numbered_by_chapter_give_no_list(tmp_path: Path) -> None:
    """Paragraph numbers such as "33.10" are not recommendation numbers (the Grenfell Tower
    Inquiry numbers every paragraph so): no list is better than a wrong one."""
    corpus = structure_of(tmp_path, f"""Recommendations

33.10 {BODY}

33.11 I recommend that owners be required to share building plans with fire services.
""")
    assert corpus.structure.recommendations == ()
    assert corpus.structure.findings == ()


def test_numbering_that_does_not_hold_together_is_not_listed(tmp_path: Path) -> None:
    corpus = structure_of(tmp_path, f"""Findings

1. The alarm failed. {BODY}

2. The doors were open. {BODY}

2. Nobody checked the doors. {BODY}

3. The stairs were blocked. {BODY}
""")
    assert corpus.structure.findings == ()
    assert corpus.structure.unreadable == frozenset({"findings"})


async def test_the_bot_says_plainly_when_findings_could_not_be_read(tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_text(f"""Findings

1. The alarm failed. {BODY}

1. The doors were open. {BODY}
""")
    (tmp_path / "report.json").write_text('{"kind": "report"}')
    for text in ("/findings", "/finding 1"):
        reply = await ask(tmp_path, text)
        said = " ".join(reply.plain.split())
        assert "findings could not be read as a numbered list" in said
        assert "/chapters" in said


@pytest.mark.parametrize(
    "label",
    ["Finding {n}:", "Key finding {n}", "Conclusion {n}.", "{n}.", "{n})", "({n})"],
)
def test_every_way_of_numbering_a_finding(tmp_path: Path, label: str) -> None:
    items = "\n\n".join(
        f"{label.format(n=n)} The {word} was not checked. {BODY}"
        for n, word in enumerate(("alarm", "door", "stair"), 1)
    )
    corpus = structure_of(tmp_path, f"Summary of findings\n\n{items}\n")
    assert [f.title for f in corpus.structure.findings] == [
        "The alarm was not checked",
        "The door was not checked",
        "The stair was not checked",
    ]


@pytest.mark.parametrize(
    ("label", "point"),
    [
        ("Recommendation {n}:", "(a)"),
        ("Recommendation {n}\n", "a)"),
        ("R{n}.", "a."),
        ("R{n}", "i)"),
        ("Rec. {n}", "(i)"),
        ("{n}.", "•"),
    ],
)
def test_every_way_of_numbering_a_recommendation(tmp_path: Path, label: str, point: str) -> None:
    items = "\n\n".join(
        f"{label.format(n=n)} The council should check every {word}:\n"
        f"{point} each month, {word} by {word};\n{point} after each storm."
        for n, word in enumerate(("alarm", "door", "stair"), 1)
    )
    items = f"{BODY}\n\n{items}"  # as in a report, the list does not open the document
    corpus = structure_of(tmp_path, f"List of recommendations\n\n{items}\n")
    recs = corpus.structure.recommendations
    words = ("alarm", "door", "stair")
    assert [r.title for r in recs] == [
        "The council should check every alarm",
        "The council should check every door",
        "The council should check every stair",
    ]
    assert [r.points for r in recs] == [
        (f"each month, {word} by {word};", "after each storm.") for word in words
    ]


def test_a_sub_list_numbered_another_way_stays_with_its_item(tmp_path: Path) -> None:
    corpus = structure_of(tmp_path, f"""Recommendations

1. The Home Office should publish its data.

2. The Home Office should review three things:
(1) how warnings are passed on;
(2) who owns each risk.

3. The council should report each year.

{BODY}
""")
    recs = corpus.structure.recommendations
    assert [r.number for r in recs] == [1, 2, 3]
    assert recs[1].text.endswith("(2) who owns each risk.")
