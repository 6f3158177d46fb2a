"""Other inquiries' reports in each format they are published in, read into exact items.

Every fixture is a fictional inquiry written for these tests: plain text with labelled items
and contents without leaders, Markdown with a contents list of links, a PDF with a running
header, page numbers and an outline (generated here), a council web page with its
navigation, cookie banner and footer, a Word document. Layouts: ``test_layouts.py``.
"""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from fpdf import FPDF

from bot.documents import CorpusError, load_corpus
from tests.inquiry_reports import BODY, ask, load, titles
from tests.pdf_maker import Block, PdfReport

# Plain text: "Key findings", "Finding 1: Title. Body", "Recommendation 1: ...", contents
# without dot leaders ---------------------------------------------------------------------------

PLAIN = f"""Report of the Harbour Bridge Inquiry

Contents
Chair's introduction 3
Chapter 1 Key findings 9
Chapter 2 Warnings that were not heeded 31
Chapter 3 Recommendations 52

Chair's introduction

On the night of 4 March the bridge closed without warning. {BODY}

Key findings

Finding 1: The inspections missed the cracks. {BODY}

Finding 2: Warnings were not passed on. {BODY}
(a) the engineer's email was not read;
(b) the duty manager was not told.

Finding 3: Nobody owned the risk. {BODY}

Warnings that were not heeded

{BODY}

Recommendations

Recommendation 1: The council should inspect the bridge every year. {BODY}

Recommendation 2: The council should name one officer who owns each structural risk.

Recommendation 3: The harbour board should publish its inspection reports.
"""


def test_a_plain_text_report_with_labelled_items(tmp_path: Path) -> None:
    corpus = load(tmp_path, "harbour.txt", PLAIN)
    structure = corpus.structure
    assert titles(structure.findings) == [
        "The inspections missed the cracks",
        "Warnings were not passed on",
        "Nobody owned the risk",
    ]
    assert structure.findings[1].text.endswith("(b) the duty manager was not told.")
    assert [r.number for r in structure.recommendations] == [1, 2, 3]
    assert structure.recommendations[1].title == (
        "The council should name one officer who owns each structural risk"
    )
    assert [(c.number, c.title, c.page) for c in structure.chapters] == [
        (None, "Chair's introduction", 3),
        ("Chapter 1", "Key findings", 9),
        ("Chapter 2", "Warnings that were not heeded", 31),
        ("Chapter 3", "Recommendations", 52),
    ]


def test_contents_without_leaders_never_reach_the_text(tmp_path: Path) -> None:
    text = load(tmp_path, "harbour.txt", PLAIN).documents[0].text
    assert "31" not in text
    assert "Chapter 2 Warnings" not in text
    assert text.startswith("Report of the Harbour Bridge Inquiry\n\nChair's introduction")


# Markdown: contents as links, "### 1. Title" conclusions, "**R1.**" under theme headings -----

MARKDOWN = f"""# Report of the Northshire Care Homes Inquiry

## Contents

1. [Introduction](#introduction)
2. [Summary of conclusions](#summary-of-conclusions)
3. [Recommendations](#recommendations)

## Introduction

{BODY}

## Summary of conclusions

### 1. Residents were not *listened* to

{BODY}

### 2. Inspections were announced in advance

{BODY}

- Managers prepared for each visit.
- Staff rotas were changed for the day.

## Recommendations

### Safety

**R1.** The regulator should inspect without notice.

**R2.** The regulator should publish [every report](https://example.org/reports) within a month.

### Voice

**R3.** Every home should have a residents' council.
"""


def test_a_markdown_report_with_link_contents_and_numbered_headings(tmp_path: Path) -> None:
    corpus = load(tmp_path, "care.md", MARKDOWN)
    structure = corpus.structure
    assert titles(structure.findings) == [
        "Residents were not listened to",
        "Inspections were announced in advance",
    ]
    assert structure.findings[1].text.endswith("• Staff rotas were changed for the day.")
    assert [(r.number, r.theme, r.title) for r in structure.recommendations] == [
        (1, "Safety", "The regulator should inspect without notice"),
        (2, "Safety", "The regulator should publish every report within a month"),
        (3, "Voice", "Every home should have a residents' council"),
    ]
    assert titles(structure.chapters) == [
        "Introduction",
        "Summary of conclusions",
        "Recommendations",
    ]
    doc = corpus.documents[0]
    assert doc.meta.title == "Report of the Northshire Care Homes Inquiry"
    assert "](#" not in doc.text and "**" not in doc.text and "Contents" not in doc.text


# A web page wrapped in a council site's furniture ----------------------------------------------

PAGE = f"""<!doctype html><html><head>
<title>Riverside Flood Inquiry: final report | Northshire County Council</title>
<meta property="og:title" content="Riverside Flood Inquiry: final report"></head><body>
<div class="cookie-banner"><p>We use cookies to make this site work.</p>
<button>Accept all cookies</button></div>
<header><nav><ul><li><a href="/">Home</a></li><li><a href="/bins">Bins and recycling</a></li>
<li><a href="/council">Council and democracy</a></li></ul></nav></header>
<nav class="breadcrumb"><a href="/">Home</a> &gt; <a href="/inquiries">Inquiries</a></nav>
<main><article>
<h1>Riverside Flood Inquiry: final report</h1>
<h2>On this page</h2>
<ul><li><a href="#findings">Findings</a></li><li><a href="#recommendations">Recommendations</a></li>
</ul>
<p>{BODY}</p>
<h2 id="findings">Findings</h2>
<h3>1. Warnings were not passed on</h3><p>{BODY}</p>
<h3>2. The pumping station failed</h3><p>{BODY}</p>
<ul><li>The backup generator did not start.</li><li>No alarm reached the control room.</li></ul>
<h2 id="recommendations">Recommendations</h2>
<h3>Warnings</h3>
<ol><li>The council should staff its duty line at all hours.</li>
<li>The agency should confirm receipt of every severe warning.</li></ol>
<h3>Infrastructure</h3>
<ol start="3"><li>Pumping stations should be serviced every year.</li></ol>
</article>
<aside class="related"><h2>Related content</h2><ul><li><a href="/tax">Council tax</a></li>
<li><a href="/parking">Parking permits</a></li></ul></aside>
<div class="feedback"><p>Was this page useful?</p><button>Yes</button><button>No</button></div>
</main>
<footer><p>Northshire County Council, County Hall</p><ul><li><a href="/privacy">Privacy</a></li>
<li><a href="/accessibility">Accessibility statement</a></li></ul></footer>
</body></html>"""


def test_a_council_web_page_gives_only_its_main_content(tmp_path: Path) -> None:
    corpus = load(tmp_path, "riverside.html", PAGE)
    doc = corpus.documents[0]
    for furniture in ("cookies", "Bins and recycling", "Related content", "Council tax",
                      "Was this page useful", "Accessibility statement", "Home"):
        assert furniture not in doc.text
    assert doc.meta.title == "Riverside Flood Inquiry: final report"
    structure = corpus.structure
    assert titles(structure.chapters) == ["Findings", "Recommendations"]
    assert "On this page" not in doc.text
    assert titles(structure.findings) == [
        "Warnings were not passed on",
        "The pumping station failed",
    ]
    assert [(r.number, r.theme) for r in structure.recommendations] == [
        (1, "Warnings"),
        (2, "Warnings"),
        (3, "Infrastructure"),
    ]


# PDF: a running header, page numbers, hyphenation, an outline ----------------------------------


def pdf_report(outline: bool = True) -> PdfReport:
    blocks = [Block("Report of the Riverside Flood Inquiry", 0), Block(BODY * 3)]
    blocks.append(Block("Summary of findings", 0))
    for n, title in enumerate(("Warnings were not passed on", "The pumps failed"), 1):
        blocks.append(Block(f"Finding {n}: {title}. " + BODY * 2))
    hyphenated = "The duty officer's pager was switched off, so the warn-\ning was not read."
    blocks.append(Block(hyphenated))
    blocks.append(Block("Recommendations", 0))
    blocks.append(Block("Warnings", 1))
    blocks.append(Block("1. The council should staff its duty line at all hours. " + BODY))
    blocks.append(Block("(a) with a named officer;\n(b) with a second officer on call.", indent=1))
    blocks.append(Block("Infrastructure", 1))
    blocks.append(Block("2. Pumping stations should be serviced every year. " + BODY))
    return PdfReport(
        title="Riverside Flood Inquiry report", blocks=blocks, page_breaks=(2, 5, 8),
        outline=outline,
    )


@pytest.mark.parametrize("outline", [True, False], ids=["with outline", "without outline"])
def test_a_pdf_report_is_read_in_order_without_its_furniture(
    tmp_path: Path, outline: bool
) -> None:
    pdf_report(outline).write(tmp_path / "riverside.pdf")
    corpus = load_corpus(tmp_path)
    doc = corpus.documents[0]
    assert doc.meta.title == "Riverside Flood Inquiry report"
    assert "Riverside Flood Inquiry: Report" not in doc.text  # the running header
    assert "\n2\n" not in f"\n{doc.text}\n"  # page numbers
    assert "so the warning was not read." in doc.text
    assert BODY * 3 in doc.text  # a paragraph wrapped over lines is one paragraph again
    structure = corpus.structure
    assert titles(structure.findings) == ["Warnings were not passed on", "The pumps failed"]
    assert [(r.number, r.theme) for r in structure.recommendations] == [
        (1, "Warnings"),
        (2, "Infrastructure"),
    ]
    assert structure.recommendations[0].points == (
        "with a named officer;",
        "with a second officer on call.",
    )
    if outline:
        assert titles(structure.chapters) == [
            "Report of the Riverside Flood Inquiry",
            "Summary of findings",
            "Recommendations",
        ]
        assert titles(structure.chapters[2].children) == ["Warnings", "Infrastructure"]


def test_a_scanned_pdf_is_refused_clearly(tmp_path: Path) -> None:
    pdf = FPDF()
    for _ in range(3):
        pdf.add_page()
        pdf.rect(20, 20, 150, 200, style="F")  # a page that is only a picture
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(CorpusError, match=r"scan\.pdf: no text layer.*scanned.*OCR"):
        load_corpus(tmp_path)


def test_a_damaged_pdf_is_named(tmp_path: Path) -> None:
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    with pytest.raises(CorpusError, match=r"broken\.pdf: not a readable PDF"):
        load_corpus(tmp_path)


# Word ------------------------------------------------------------------------------------------


def test_a_word_report(tmp_path: Path) -> None:
    document = docx.Document()
    document.core_properties.title = "Eastgate Fire Inquiry"
    document.add_heading("Conclusions", level=1)
    document.add_heading("1. The alarm was not heard", level=2)
    document.add_paragraph(BODY)
    document.add_heading("2. The doors were propped open", level=2)
    document.add_paragraph(BODY)
    document.add_heading("Recommendations", level=1)
    document.add_paragraph("1. Landlords should test alarms monthly:")
    document.add_paragraph("in every flat;", style="List Bullet")
    document.add_paragraph("in every corridor.", style="List Bullet")
    document.add_paragraph("2. Fire doors should close by themselves.")
    document.save(str(tmp_path / "eastgate.docx"))
    (tmp_path / "eastgate.json").write_text('{"kind": "report"}')
    corpus = load_corpus(tmp_path)
    assert corpus.documents[0].meta.title == "Eastgate Fire Inquiry"
    assert titles(corpus.structure.findings) == [
        "The alarm was not heard",
        "The doors were propped open",
    ]
    recs = corpus.structure.recommendations
    assert [r.title for r in recs] == [
        "Landlords should test alarms monthly",
        "Fire doors should close by themselves",
    ]
    assert recs[0].points == ("in every flat;", "in every corridor.")


def test_a_chapter_heading_at_the_top_of_each_chapter_is_not_taken_for_a_header(
    tmp_path: Path,
) -> None:
    blocks: list[Block] = []
    topics = ("The night", "The warnings", "The pumps", "The response")
    for n, topic in enumerate(topics, 1):
        blocks += [Block(f"Chapter {n}: {topic}", 0), Block(f"{topic} are described here. {BODY}")]
    PdfReport(blocks=blocks, page_breaks=(2, 4, 6)).write(tmp_path / "r.pdf")
    (tmp_path / "r.json").write_text('{"kind": "report"}')
    corpus = load_corpus(tmp_path)
    text = corpus.documents[0].text
    for n in range(1, 5):
        assert f"Chapter {n}: {topics[n - 1]}\n" in text
    assert "Riverside Flood Inquiry: Report" not in text
    # The outline's chapters are numbered as the text's contents would be.
    assert [(c.number, c.title, c.page) for c in corpus.structure.chapters] == [
        (f"Chapter {n}", topic, n) for n, topic in enumerate(topics, 1)
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.docx", b"not a zip file", "not a readable Word document"),
        ("b.md", b"", "no text: it holds no words"),
        ("c.txt", b"\xff\xfe\x00h\x00i", "not UTF-8 text"),
    ],
)
def test_a_damaged_file_is_named_with_its_fault(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CorpusError, match=f"{name}: {reason}"):
        load_corpus(tmp_path)


def test_a_folder_with_no_readable_document_names_each_fault(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"\xff\xfe\x00h\x00i")
    (tmp_path / "b.md").write_bytes(b"")
    faults = r"no document in .* could be read: .*a\.txt: not UTF-8.*b\.md: no text"
    with pytest.raises(CorpusError, match=faults):
        load_corpus(tmp_path)
    (tmp_path / "c.txt").write_text("Vetting was found to be weak across the force.")
    [document] = load_corpus(tmp_path).documents  # the readable one is served
    assert document.id == "c"
    # A sidecar that is not valid JSON leaves its document out too, and the rest are served.
    (tmp_path / "d.txt").write_text("Misconduct cases took years to resolve.")
    (tmp_path / "d.json").write_text("{not json")
    assert [d.id for d in load_corpus(tmp_path).documents] == ["c"]


def test_a_pdf_contents_page_with_leaders(tmp_path: Path) -> None:
    entries = [("Foreword", 3), ("Summary of findings", 5), ("Chapter 1: The night", 9),
               ("1.1 The first warning", 10), ("Recommendations", 31)]
    blocks = [Block("Contents", 0, bookmark=False)]
    blocks += [Block(f"{title} {'.' * (70 - len(title))} {page}") for title, page in entries]
    blocks += [Block("Foreword", 0, bookmark=False), Block(BODY)]
    blocks += [Block("Summary of findings", 0, bookmark=False)]
    blocks += [Block(f"{n}. Finding number {n} is set out here. {BODY}") for n in (1, 2)]
    blocks += [Block("Recommendations", 0, bookmark=False), Block(f"1. {BODY}")]
    report = PdfReport(blocks=blocks, page_breaks=(6, 8), outline=False)
    report.write(tmp_path / "report.pdf")
    (tmp_path / "report.json").write_text('{"kind": "report"}')
    structure = load_corpus(tmp_path).structure
    assert [(c.number, c.title, c.page) for c in structure.chapters] == [
        (None, "Foreword", 3),
        (None, "Summary of findings", 5),
        ("Chapter 1", "The night", 9),
        (None, "Recommendations", 31),
    ]
    assert [c.title for c in structure.chapters[2].children] == ["The first warning"]
    assert [f.number for f in structure.findings] == [1, 2]


async def test_findings_are_cited_by_the_part_they_are_printed_in(tmp_path: Path) -> None:
    load(tmp_path, "harbour.txt", PLAIN)
    for text in ("/findings", "/finding 2"):
        (citation,) = (await ask(tmp_path, text)).citations
        assert citation.section == "Key findings"


def test_a_pdf_with_scanned_pages_is_read_and_the_gap_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    pdf.cell(0, 10, "Foreword: the inquiry heard from forty witnesses over nine weeks.")
    for _ in range(2):
        pdf.add_page()
        pdf.rect(20, 20, 150, 200, style="F")
    pdf.output(str(tmp_path / "mixed.pdf"))
    corpus = load_corpus(tmp_path)
    assert corpus.documents[0].text.startswith("Foreword: the inquiry heard")
    assert "2 of 3 pages have no text (scanned pages?)" in caplog.text


def test_pdf_footnotes_go_to_the_end_and_a_paragraph_over_the_page_stays_whole(
    tmp_path: Path,
) -> None:
    long_paragraph = " ".join([BODY] * 40)  # runs over onto the second page
    blocks = [Block("The night of the flood", 0), Block(long_paragraph)]
    blocks += [Block("The morning after", 0), Block(BODY), Block("The response", 0), Block(BODY)]
    report = PdfReport(
        blocks=blocks,
        footnotes={1: "1 Witness statement of the duty officer, paragraph 12."},
        outline=False,
        page_breaks=(2, 4),
    )
    report.write(tmp_path / "r.pdf")
    text = load_corpus(tmp_path).documents[0].text
    assert long_paragraph in text
    assert text.endswith("Notes\n\n1 Witness statement of the duty officer, paragraph 12.")
