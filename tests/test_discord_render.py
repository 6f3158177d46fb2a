"""Replies as Discord markdown: escaped, unpingable, split under the 2,000-character limit."""

from __future__ import annotations

import pytest

from adapters.discord.render import (
    MESSAGE_LIMIT,
    escape,
    render_buttons,
    render_line,
    render_reply,
    split_message,
    utf16_len,
)
from bot.messages import Button, Line, Reply, Span, text_reply


def unescaped(text: str) -> str:
    """What a reader sees: Discord drops a backslash before punctuation."""
    out = []
    chars = iter(text)
    for c in chars:
        out.append(next(chars, "") if c == "\\" else c)
    return "".join(out).replace("\u200b", "")


@pytest.mark.parametrize(
    "text",
    [
        "*not bold* _not italic_ ~~not struck~~ ||not a spoiler|| `not code`",
        "# not a heading",
        "> not a quote",
        "- not a bullet",
        "1. not a list item",
        "[not a link](https://example.com)",
        "a back\\slash",
    ],
)
def test_markdown_in_document_text_is_shown_as_written(text: str) -> None:
    rendered = escape(text)
    assert rendered != text  # something was escaped
    assert unescaped(rendered) == text  # and the reader sees the text as written


def test_mentions_are_neutralised_in_any_case() -> None:
    rendered = escape(
        "@everyone @HERE <@123456789012345678> <@!123456789012345678> <@&123456789012345678>"
    )
    assert "@everyone" not in rendered and "@HERE" not in rendered
    assert "<@123456789012345678>" not in rendered
    assert "<@!123456789012345678>" not in rendered and "<@&123456789012345678>" not in rendered
    assert unescaped(rendered) == (
        "@everyone @HERE <@123456789012345678> <@!123456789012345678> <@&123456789012345678>"
    )


@pytest.mark.parametrize(
    "text", ["<@123>", "<@!123>", "<@&456>", "<#789>", "</help:1>", "<t:1700000000:R>", "<:x:1>"]
)
def test_angle_bracket_markup_of_any_length_is_shown_literally(text: str) -> None:
    # A short id is no ping (allowed_mentions is none) but still renders as a mention pill.
    rendered = escape(f"about {text} today")
    assert f" {text}" not in rendered and rendered.count("\\<") == 1
    assert unescaped(rendered) == f"about {text} today"


def test_bare_urls_stay_whole() -> None:
    assert escape("see https://example.com/a_b_c today") == "see https://example.com/a_b_c today"


def test_styles_hug_their_words() -> None:
    line: Line = (Span("Finding 4", bold=True), Span(" · "), Span(" Londoners ", italic=True))
    assert render_line(line) == "**Finding 4** ·  *Londoners* "


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (
            Span("Casey Review", link="https://example.com/report"),
            "[Casey Review](<https://example.com/report>)",
        ),
        (Span("odd", link="https://example.com/a b)"), "[odd](<https://example.com/a%20b%29>)"),
        (Span("https://example.com", link="https://example.com"), "<https://example.com>"),
        (Span("click", link="javascript:alert(1)"), "click"),
        (Span("mail", link="mailto:someone@example.com"), "mail"),
        (Span("[x](y)", link="https://example.com"), "[\\[x\\](y)](<https://example.com>)"),
    ],
)
def test_links_are_masked_only_for_http(span: Span, expected: str) -> None:
    assert render_line((span,)) == expected


def test_code_keeps_its_backticks_inside() -> None:
    assert render_line((Span("/recommendation 10", code=True),)) == "`/recommendation 10`"
    assert render_line((Span("a`b", code=True),)) == "``a`b``"
    assert "@everyone" not in render_line((Span("@everyone", code=True),))


def words_of(messages: list[str]) -> list[str]:
    return unescaped(" ".join(messages)).split()


def test_a_long_reply_splits_between_paragraphs() -> None:
    paragraphs = [f"Paragraph {n}. " + "word " * 70 for n in range(1, 21)]  # ~7,500 characters
    reply = text_reply(*paragraphs)
    messages = split_message(reply.lines)
    assert len(messages) >= 4
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)
    assert all(m.startswith("Paragraph ") for m in messages)
    assert words_of(messages) == reply.plain.split()


def test_one_huge_paragraph_splits_between_lines_then_words() -> None:
    lines = tuple((Span("line " * 100 + f"end{n}"),) for n in range(8))  # lines of ~505
    messages = split_message(lines)
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)
    assert all(m.endswith(tuple(f"end{n}" for n in range(8))) for m in messages)
    one_line = ((Span("word " * 1200, bold=True),),)  # 6,000 characters, bold
    pieces = split_message(one_line)
    assert len(pieces) >= 3 and all(utf16_len(m) <= MESSAGE_LIMIT for m in pieces)
    assert all(p.startswith("**") and p.endswith("**") for p in pieces)  # each piece still bold
    assert unescaped(" ".join(pieces)).replace("*", "").split() == ["word"] * 1200


def test_the_limit_counts_what_discord_counts() -> None:
    emoji_line = ((Span("📄" * 1500),),)  # 1,500 characters, 3,000 UTF-16 units
    messages = split_message(emoji_line)
    assert len(messages) == 2 and all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)


def test_escaping_cannot_push_a_message_over_the_limit() -> None:
    reply = text_reply("*_" * 1000)  # doubles in length once escaped
    messages = render_reply(reply).messages
    assert all(utf16_len(m) <= MESSAGE_LIMIT for m in messages)
    assert unescaped("".join(messages)) == "*_" * 1000


def test_an_empty_reply_still_sends_something() -> None:
    assert render_reply(Reply(lines=())).messages == ("(no text)",)


def test_buttons_fit_discords_limits() -> None:
    rows = (
        tuple(Button(f"Button {n}", f"/finding {n}") for n in range(1, 8)),
        (Button("x" * 120, "/search " + "y" * 120), Button("y" * 120, "/search vetting")),
    )
    rendered = render_buttons(rows)
    assert [len(row) for row in rendered] == [5, 1]  # 5 a row; a payload too long is dropped
    assert rendered[0][0].custom_id == "ib:/finding 1"
    assert len(rendered[1][0].label) == 80 and rendered[1][0].payload == "/search vetting"
