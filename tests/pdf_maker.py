"""Write small PDFs for the tests and benchmarks, laid out as inquiry reports are printed:
a running header on every page, a page number at the foot, text wrapped into lines."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF


@dataclass(frozen=True)
class Block:
    """A heading (with its outline level), a paragraph, or a list item printed as lines."""

    text: str
    heading: int | None = None  # outline level, when the block is a heading
    bookmark: bool = True  # headings go into the outline
    indent: int = 0


@dataclass
class PdfReport:
    header: str = "Riverside Flood Inquiry: Report"
    title: str | None = None
    blocks: list[Block] = field(default_factory=list)
    width: int = 90  # characters a line
    page_breaks: Sequence[int] = ()  # block indexes that start a new page
    outline: bool = True
    footnotes: dict[int, str] = field(default_factory=dict)  # page number -> its note

    def write(self, path: Path) -> Path:
        pdf = _Pdf(self.header, self.footnotes)
        if self.title:
            pdf.set_title(self.title)
        pdf.set_auto_page_break(True, margin=30)
        pdf.add_page()
        for k, block in enumerate(self.blocks):
            if k in self.page_breaks:
                pdf.add_page()
            _write_block(pdf, block, self.width, self.outline)
        pdf.output(str(path))
        return path


class _Pdf(FPDF):
    def __init__(self, running_header: str, footnotes: dict[int, str]) -> None:
        super().__init__()
        self.running_header = running_header
        self.footnotes = footnotes

    def header(self) -> None:
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, self.running_header, new_x="LMARGIN", new_y="NEXT")
        self.ln(2)

    def footer(self) -> None:
        note = self.footnotes.get(self.page_no())
        if note:
            self.set_y(-26)
            self.set_font("Helvetica", size=7)
            self.cell(0, 5, note)
        self.set_y(-15)
        self.set_font("Helvetica", size=8)
        self.cell(0, 6, str(self.page_no()), align="C")


def _write_block(pdf: FPDF, block: Block, width: int, outline: bool) -> None:
    if block.heading is not None:
        if outline and block.bookmark:
            pdf.start_section(block.text, level=block.heading)
        pdf.set_font("Helvetica", style="B", size=12)
        pdf.cell(0, 7, block.text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        return
    pdf.set_font("Helvetica", size=10)
    for line in block.text.split("\n"):
        for wrapped in textwrap.wrap(line, width - block.indent) or [""]:
            pdf.set_x(pdf.l_margin + 4 * block.indent)
            pdf.cell(0, 5, wrapped, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
