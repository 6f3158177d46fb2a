"""Template output to styled lines: markup becomes style only where a template wrote it."""

from __future__ import annotations

from bot.messages import Span
from bot.richtext import parse
from bot.views import Views


def test_styles_and_safe_links() -> None:
    (line,) = parse(
        '<b>Bold</b> <i>it</i> <code>c</code> <a href="https://x.org/?a=1&amp;b=2">x</a>'
    )
    assert line == (
        Span("Bold", bold=True),
        Span(" "),
        Span("it", italic=True),
        Span(" "),
        Span("c", code=True),
        Span(" "),
        Span("x", link="https://x.org/?a=1&b=2"),
    )


def test_unsafe_link_targets_become_plain_text() -> None:
    for href in ("javascript:alert(1)", "tg://resolve?domain=x", "data:text/html,x"):
        (line,) = parse(f'<a href="{href}">click</a>')
        assert line == (Span("click"),)


def test_escaped_markup_from_values_stays_text() -> None:
    views = Views()
    markup = views.env.from_string("<b>{{ v }}</b>").render(
        v="</b><a href='https://e.vil'>@everyone"
    )
    (line,) = parse(markup)
    assert line == (Span("</b><a href='https://e.vil'>@everyone", bold=True),)


def test_unknown_tags_are_dropped_and_text_kept() -> None:
    assert parse("<u>under</u><script>x</script>") == ((Span("underx"),),)


def test_blank_line_runs_fold_to_one_and_ends_are_trimmed() -> None:
    assert parse("\n\na\n\n\n\nb  \n\n") == ((Span("a"),), (), (Span("b"),))
    assert parse("a<br>b") == ((Span("a"),), (Span("b"),))
