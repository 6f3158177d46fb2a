"""End to end through the whole core: what a reader sends, what they get back."""

from __future__ import annotations

import logging

import pytest

from bot.briefing_commands import build_table
from bot.commands import Command
from bot.core import APOLOGY, BriefingBot
from bot.errors import UserInputError
from bot.messages import ChatRef, IncomingMessage, Reply, SenderRef
from bot.services import Services
from tests.conftest import Chat


def buttons(reply: Reply) -> list[str]:
    return [b.payload for row in reply.buttons for b in row]


async def test_start_says_what_the_bot_is_and_how_to_begin(chat: Chat) -> None:
    text = (await chat("/start")).plain
    assert "independent review" in text.lower()
    for command in ("/findings", "/recommendations", "/help"):
        assert command in text


async def test_findings_lists_all_eight_titles_with_a_source(chat: Chat) -> None:
    reply = await chat("/findings")
    assert [i.number for i in reply.items] == list(range(1, 9))
    assert "1. There are systemic and fundamental problems in how the Met is run" in reply.plain
    assert "8. The Met is in danger of losing its way – consent is broken" in reply.plain
    assert "Source:" in reply.plain
    assert reply.citations and reply.citations[0].section == "Summary and conclusions"


async def test_one_finding_in_full_with_neighbour_buttons(chat: Chat) -> None:
    reply = await chat("/finding 4")
    assert reply.plain.startswith("Finding 4 of 8: Londoners have been put last")
    assert "32 borough-based police commands to 12 units" in reply.plain
    assert buttons(reply) == ["/finding 3", "/finding 5"]
    assert len(reply.items) == 1 and reply.items[0].kind == "finding"


async def test_recommendation_ten_with_theme_and_source(chat: Chat) -> None:
    reply = await chat("/recommendation 10")
    assert "Recommendation 10 of 16" in reply.plain
    assert "Building trust with London’s communities to restore consent" in reply.plain
    assert "stop and search" in reply.plain
    assert reply.items[0].number == 10
    assert buttons(reply) == ["/recommendation 9", "/recommendation 11"]


async def test_recommendation_eleven_is_served_though_the_source_lost_its_number(
    chat: Chat,
) -> None:
    reply = await chat("/rec 11")
    assert "A new police deal for Londoners" in reply.plain
    assert "Frontline officers are those who Londoners see" in reply.plain
    assert "lost this recommendation's number" in reply.plain


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("/recommendation 17", "There are 16 recommendations: 1–16"),
        ("/recommendation 0", "There are 16 recommendations: 1–16"),
        ("/recommendation abc", "“abc” is not a recommendation number"),
        ("/recommendation", "Which recommendation?"),
        ("/finding", "Which finding? Send /finding N with N from 1 to 8"),
        ("/finding 9", "There are 8 findings: 1–8"),
        ("/finding -3", "“-3” is not a finding number"),
        ("/search", "What should I search for?"),
    ],
)
async def test_bad_numbers_get_a_specific_answer(chat: Chat, message: str, expected: str) -> None:
    assert expected in (await chat(message)).plain


@pytest.mark.parametrize("message", ["/recommendation #10", "/rec ten", "/recommendation 10."])
async def test_numbers_written_the_way_people_write_them(chat: Chat, message: str) -> None:
    assert "Recommendation 10 of 16" in (await chat(message)).plain


async def test_unknown_command_suggests_the_closest(chat: Chat) -> None:
    text = (await chat("/finds")).plain
    assert "I don't know the command /finds" in text
    assert "/findings" in text


@pytest.mark.parametrize("message", ["/FINDINGS", "/Findings@InquiryBot", "/findings@inquirybot"])
async def test_commands_are_case_insensitive_and_take_the_bot_name(
    chat: Chat, message: str
) -> None:
    assert len((await chat(message)).items) == 8


async def test_a_command_for_another_bot_is_left_alone(bot: BriefingBot) -> None:
    message = IncomingMessage(ChatRef("telegram", "-5"), SenderRef("1"), "/findings@OtherBot")
    assert await bot.handle(message) is None


async def test_help_lists_every_visible_command_and_explains_one(chat: Chat) -> None:
    text = (await chat("/help")).plain
    for command in build_table().visible():
        assert command.usage in text
    assert "/more" not in text.split("\n")[0]
    detail = (await chat("/help recommendation")).plain
    assert "/recommendation N" in detail and "/rec" in detail and "/recommendation 10" in detail
    assert "There is no command /nope" in (await chat("/help nope")).plain


async def test_chapters_show_the_contents_with_repaired_page_numbers(chat: Chat) -> None:
    text = (await chat("/chapters")).plain
    assert "Chapter 3: How the Met is run" in text
    assert "3.7. Promotion · p. 84" in text or "Promotion · p. 84" in text
    assert "843" not in text


async def test_sources_name_every_document(chat: Chat, services: Services) -> None:
    text = (await chat("/sources")).plain
    for doc in services.corpus.documents:
        assert doc.meta.title in text


async def test_a_question_gets_cited_passages(chat: Chat) -> None:
    reply = await chat("what did the report say about vetting?")
    assert reply.results, reply.plain
    assert all(r.source for r in reply.results)
    assert any("vetting" in r.text.lower() for r in reply.results[:3])
    assert "What the documents say about" in reply.plain


async def test_a_hit_inside_a_recommendation_is_quoted_without_its_number(chat: Chat) -> None:
    reply = await chat("/search vetting standards")
    first = reply.plain.split("\n\n")[1]
    assert first.startswith("1. Vetting standards should be changed"), first
    assert "— Casey Review · Recommendation 3" in reply.plain
    assert "1. 3." not in reply.plain
    assert reply.results[0].text.startswith("3. Vetting standards")  # the passage is whole


async def test_search_all_with_one_inquiry_searches_it(chat: Chat) -> None:
    reply = await chat("/search all vetting")
    assert "What the documents say about “vetting”" in reply.plain
    assert reply.results


async def test_a_question_that_matches_nothing_says_so_and_offers_a_way_on(chat: Chat) -> None:
    reply = await chat("xylophone quasar zeppelin")
    assert "I found nothing about" in reply.plain
    assert "/findings" in reply.plain
    assert not reply.results


async def test_empty_message_is_answered(chat: Chat) -> None:
    assert "empty" in (await chat("   ")).plain


async def test_huge_message_is_refused_clearly(chat: Chat) -> None:
    text = (await chat("v" * 100_000)).plain
    assert "That message is 100,000 characters long" in text


async def test_long_question_under_the_message_cap_is_refused_clearly(chat: Chat) -> None:
    text = (await chat("vetting? " * 200)).plain
    assert "That question is 1,799 characters long" in text and "under 1,000" in text


async def test_control_characters_are_ignored(chat: Chat) -> None:
    reply = await chat("/find\x00ings\x07")
    assert len(reply.items) == 8


async def test_markup_in_a_question_stays_text(chat: Chat) -> None:
    reply = await chat("<b>vetting</b> <a href='tg://x'>x</a>")
    spans = [s for line in reply.lines for s in line]
    assert not any(s.link and s.link.startswith("tg:") for s in spans)
    assert any("<b>vetting</b>" in s.text for s in spans)


async def test_long_answers_page_with_more_and_buttons(chat: Chat) -> None:
    first = await chat("/chapters")
    assert first.pages > 1, "the contents should be long enough to page"
    assert "send /more for the next page" in first.plain
    nxt = [p for p in buttons(first) if p.startswith("/page")]
    second = await chat("/more")
    assert second.page == 2
    assert (await chat(nxt[0])).page == 2
    assert "expired" in (await chat("/page 999 2")).plain
    assert "expired" in (await chat("/page zzz 1")).plain


async def test_more_with_nothing_to_show(chat: Chat) -> None:
    assert "nothing more" in (await chat("/more")).plain


async def test_internal_error_is_logged_with_traceback_and_apologised_for(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(ctx: object, args: str) -> Reply:
        raise RuntimeError("boom")

    bot = BriefingBot(services, build_table([Command("boom", "Fails", "/boom", broken)]))
    message = IncomingMessage(ChatRef("console", "c"), SenderRef("u"), "/boom")
    with caplog.at_level(logging.ERROR):
        reply = await bot.handle(message)
    assert reply is not None and reply.plain == APOLOGY
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


async def test_a_misspelt_word_is_corrected_and_the_reader_is_told(chat: Chat) -> None:
    reply = await chat("veting")
    assert "Searched for “vetting” (you wrote “veting”)" in reply.plain
    assert any("vetting" in r.text.lower() for r in reply.results)


def test_pager_forgets_the_least_recent_chats_first() -> None:
    from bot.messages import Span
    from bot.paging import EXPIRED, Pager

    pager = Pager(page_chars=50, max_chats=2)
    paragraph = [((Span(f"paragraph {i} " * 3),), ()) for i in range(10)]
    long = Reply(lines=tuple(line for pair in paragraph for line in pair))
    for chat in ("a", "b", "c"):
        assert pager.paginate(chat, long).pages > 1
    assert set(pager.current) == {"b", "c"}
    with pytest.raises(UserInputError, match="nothing more"):
        pager.more("a")
    assert pager.more("c").page == 2
    assert pager.page("b", "2", 2).page == 2  # tokens: a 1, b 2, c 3
    with pytest.raises(UserInputError, match=EXPIRED):
        pager.page("a", "1", 2)
