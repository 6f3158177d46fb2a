"""Replies as Telegram HTML: escaping, links, splitting by UTF-16 length, buttons."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from adapters.telegram.render import (
    CALLBACK_DATA_LIMIT,
    MESSAGE_LIMIT,
    CallbackTable,
    html_to_plain,
    keyboard,
    render_html,
    utf16_len,
)
from bot.messages import Button, Line, Reply, Span, text_reply

TELEGRAM_TAGS = {"b", "i", "code", "a"}


class TagChecker(HTMLParser):
    """Fails on any tag Telegram would not accept, or any tag left open or closed twice."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in TELEGRAM_TAGS, tag
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (tag, self.open)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible_text(chunk: str) -> str:
    checker = TagChecker()
    checker.feed(chunk)
    checker.close()
    assert checker.open == [], f"tags left open: {checker.open}"
    return "".join(checker.text)


def no_space(text: str) -> str:
    return re.sub(r"\s+", "", text)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_every_value_is_escaped() -> None:
    reply = Reply(lines=((Span("a < b & c > d </b>"), Span("<i>x</i>", bold=True)),))
    [chunk] = render_html(reply)
    assert chunk == "a &lt; b &amp; c &gt; d &lt;/b&gt;<b>&lt;i&gt;x&lt;/i&gt;</b>"
    assert visible_text(chunk) == "a < b & c > d </b><i>x</i>"


@pytest.mark.parametrize(
    "link",
    [
        "tg://resolve?domain=phish",
        "javascript:alert(1)",
        "mailto:someone@example.org",
        "https://exa mple.org",
        "http://",
        "https://exa\u2028mple.org/",
    ],
)
def test_only_http_links_are_links(link: str) -> None:
    [chunk] = render_html(Reply(lines=((Span("click", link=link),),)))
    assert chunk == "click"


def test_quotes_in_a_link_cannot_break_out_of_the_attribute() -> None:
    link = 'https://example.org/?q="><b>x</b>&a=1'
    [chunk] = render_html(Reply(lines=((Span("the report", link=link, italic=True),),)))
    assert chunk == (
        '<a href="https://example.org/?q=&quot;&gt;&lt;b&gt;x&lt;/b&gt;&amp;a=1">'
        "<i>the report</i></a>"
    )
    assert visible_text(chunk) == "the report"


def test_styles_nest_in_one_order_and_close_in_reverse() -> None:
    span = Span("x", bold=True, italic=True, code=True, link="https://example.org")
    [chunk] = render_html(Reply(lines=((span,),)))
    assert chunk == '<a href="https://example.org"><b><i><code>x</code></i></b></a>'


def test_lines_and_paragraphs_keep_their_breaks() -> None:
    reply = text_reply("One\nTwo", "Three")
    assert render_html(reply) == ["One\nTwo\n\nThree"]


def test_an_empty_reply_renders_nothing() -> None:
    assert render_html(Reply(lines=((), (Span(""),)))) == []


def test_utf16_length_counts_astral_characters_twice() -> None:
    assert utf16_len("abc") == 3
    assert utf16_len("😀") == 2
    assert utf16_len("👩‍👩‍👧") == 8
    assert utf16_len("é") == 1


def ten_thousand_characters_with_emoji() -> Reply:
    """Paragraphs of styled words, emoji, markup-like text and one line longer than a message."""
    words = ["vetting", "😀", "café", "<b>", "&", "Met", "👩‍👩‍👧", "misogyny", "ñ"]
    lines: list[Line] = []
    n = 0
    while sum(len(s.text) for line in lines for s in line) < 7_000:
        text = " ".join(words[(n + i) % len(words)] for i in range(12)) + " "
        lines.append((Span(f"{n}. ", bold=True), Span(text), Span("source", link="https://e.org")))
        if n % 5 == 4:
            lines.append(())
        n += 1
    lines.append(())
    long_line = tuple(
        Span(" ".join(["😀 word"] * 20) + " ", bold=i % 2 == 0, italic=i % 3 == 0)
        for i in range(25)
    )
    lines.append(long_line)
    return Reply(lines=tuple(lines))


def test_a_ten_thousand_character_reply_with_emoji_is_split_correctly() -> None:
    reply = ten_thousand_characters_with_emoji()
    assert len(reply.plain) >= 10_000
    chunks = render_html(reply)
    assert len(chunks) >= 3
    for chunk in chunks:
        assert utf16_len(chunk) <= MESSAGE_LIMIT
        assert len(chunk) <= MESSAGE_LIMIT  # and so Telegram's own count of the text is too
    # Nothing lost, nothing added (chunk edges only drop the whitespace they fall on).
    shown = "".join(visible_text(c) for c in chunks)
    expected = "".join(span.text for line in reply.lines for span in line)
    assert no_space(shown) == no_space(expected)


def test_chunks_end_at_paragraph_ends_when_paragraphs_fit() -> None:
    paragraphs = [f"Paragraph {n} " + "word " * 100 for n in range(40)]
    chunks = render_html(text_reply(*paragraphs))
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("Paragraph ")
        assert chunk.rstrip().endswith("word")
    assert "\n\n".join(chunks) == text_reply(*paragraphs).plain


def test_a_long_paragraph_is_split_at_line_ends() -> None:
    lines = "\n".join(f"Line {n} " + "word " * 30 for n in range(100))
    chunks = render_html(text_reply(lines))
    assert len(chunks) > 1
    assert all(c.startswith("Line ") for c in chunks)
    assert "\n".join(chunks) == text_reply(lines).plain


def test_an_over_long_line_is_split_between_words_with_tags_closed_and_reopened() -> None:
    line = (Span("start "), Span("bold words " * 800, bold=True), Span(" end"))
    chunks = render_html(Reply(lines=(line,)))
    assert len(chunks) >= 3
    for chunk in chunks:
        visible_text(chunk)  # balanced
        assert utf16_len(chunk) <= MESSAGE_LIMIT
    assert chunks[1].startswith("<b>") and chunks[1].endswith("</b>")
    words = {w for c in chunks for w in visible_text(c).split()}
    assert words == {"start", "bold", "words", "end"}  # no word cut in two
    assert chunks[-1].endswith(" end")


def test_a_word_longer_than_a_message_is_cut_without_splitting_an_emoji() -> None:
    word = "😀" * 3000 + "&" * 3000  # 9,000 units of escaped text with no space anywhere
    chunks = render_html(Reply(lines=((Span(word, code=True),),)))
    assert all(utf16_len(c) <= MESSAGE_LIMIT for c in chunks)
    assert html.unescape("".join(re.sub(r"</?code>", "", c) for c in chunks)) == word


def test_a_chunk_never_ends_inside_an_escape() -> None:
    chunks = render_html(Reply(lines=((Span("&" * 5000),),)))
    for chunk in chunks:
        assert re.fullmatch(r"(&amp;)+", chunk)


def test_plain_fallback_is_the_text_without_markup() -> None:
    [chunk] = render_html(Reply(lines=((Span("Tom & <Jerry>", bold=True), Span(" x")),)))
    assert html_to_plain(chunk) == "Tom & <Jerry> x"


def test_buttons_become_an_inline_keyboard() -> None:
    reply = Reply(
        lines=((Span("x"),),),
        buttons=((Button("◀ Previous", "/page 1 1"), Button("Next ▶", "/page 1 3")),),
    )
    markup = keyboard(reply, CallbackTable())
    assert markup is not None
    assert [[(b.text, b.callback_data) for b in row] for row in markup.inline_keyboard] == [
        [("◀ Previous", "/page 1 1"), ("Next ▶", "/page 1 3")]
    ]
    assert keyboard(Reply(lines=()), CallbackTable()) is None


def test_a_long_payload_goes_through_a_short_lived_id() -> None:
    clock = Clock()
    table = CallbackTable(clock=clock, ttl=60)
    payload = "/search " + "independent police complaints " * 4
    assert len(payload.encode()) > CALLBACK_DATA_LIMIT
    data = table.data_for(payload)
    assert len(data.encode()) <= CALLBACK_DATA_LIMIT
    assert table.payload_for(data) == payload
    clock.now += 61
    assert table.payload_for(data) is None


def test_a_short_payload_is_its_own_callback_data_and_forgeries_are_refused() -> None:
    table = CallbackTable()
    assert table.data_for("/finding 3") == "/finding 3"
    assert table.payload_for("/finding 3") == "/finding 3"
    assert table.payload_for("#123") is None
    assert table.payload_for("hello") is None
    # A payload that looks like one of our ids is mapped too, so it cannot be mistaken.
    data = table.data_for("#7")
    assert table.payload_for(data) == "#7"


def test_payload_multibyte_limit_is_counted_in_bytes() -> None:
    table = CallbackTable()
    payload = "/search " + "é" * 30  # 38 characters, 68 bytes
    assert table.data_for(payload) != payload
