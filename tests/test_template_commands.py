"""/template and /briefing, driven through their handlers with the in-memory store and a real
sandbox: what moderators and readers see."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from adapters.storage.sqlite import SqliteStore
from bot.commands import Command, Context
from bot.errors import UserInputError
from bot.messages import ChatKind, ChatRef, IncomingMessage, Reply, SenderRef
from bot.model import Document, DocumentMeta
from bot.services import Services
from bot.store import DocumentRecord, InMemoryStore, text_hash
from bot.templates.commands import current_contexts, template_commands
from bot.templates.context import TemplateContexts, search_calls
from bot.templates.digest_render import make_render_custom
from bot.templates.limits import TemplateOutOfTime, TemplateRejected
from bot.templates.sandbox import TemplateSandbox

pytestmark = pytest.mark.asyncio(loop_scope="module")

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
GROUP = ChatRef("telegram", "-100", ChatKind.GROUP, "Reading group")
OTHER = ChatRef("telegram", "-200", ChatKind.GROUP, "Another group")
MOD = SenderRef("mod-1", "Mona")
READER = SenderRef("reader-2", "Rex")
COMMANDS: dict[str, Command] = {c.name: c for c in template_commands()}
_COMMAND = re.compile(r"^/(\w+)\s*(.*)$", re.DOTALL)


class Moderators:
    def __init__(self, *ids: str) -> None:
        self.ids = set(ids)

    async def is_moderator(self, chat: ChatRef, sender: SenderRef) -> bool:
        return sender.id in self.ids


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.moment = now

    def now(self) -> datetime:
        return self.moment


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sandbox() -> AsyncIterator[TemplateSandbox]:
    box = TemplateSandbox(chat_seconds=1_000)  # these tests share chats; one test is below
    await box.start()
    try:
        yield box
    finally:
        await box.close()


@pytest.fixture
def app(services: Services, sandbox: TemplateSandbox) -> Services:
    return Services(
        corpus=services.corpus,
        index=services.index,
        views=services.views,
        moderators=Moderators(MOD.id),
        clock=FixedClock(T0),
        store=InMemoryStore(),
        sandbox=sandbox,
    )


async def send(
    app: Services, text: str, sender: SenderRef = MOD, chat: ChatRef = GROUP
) -> Reply:
    match = _COMMAND.match(text)
    assert match, text
    name, args = match.group(1), match.group(2).strip()
    ctx = Context(IncomingMessage(chat, sender, text), app, name)
    return await COMMANDS[name].handler(ctx, args)


async def say(app: Services, text: str, sender: SenderRef = MOD, chat: ChatRef = GROUP) -> str:
    return (await send(app, text, sender, chat)).plain


async def refused(
    app: Services, text: str, sender: SenderRef = MOD, chat: ChatRef = GROUP
) -> str:
    with pytest.raises(UserInputError) as caught:
        await send(app, text, sender, chat)
    return str(caught.value)


def store_of(app: Services) -> InMemoryStore:
    assert isinstance(app.store, InMemoryStore)
    return app.store


# -- saving -----------------------------------------------------------------------------------


async def test_add_then_show_keeps_the_text_author_and_version(app: Services) -> None:
    said = await say(app, "/template add welcome Hello! {{ recommendations|length }} recs.")
    assert "Saved template “welcome” (version 1)" in said
    reply = await send(app, "/template show welcome", sender=READER)
    assert "version 1" in reply.plain and "by Mona" in reply.plain
    code = [span for line in reply.lines for span in line if span.code]
    assert [s.text for s in code] == ["Hello! {{ recommendations|length }} recs."]


async def test_text_may_start_on_the_next_line_and_be_fenced(app: Services) -> None:
    await say(app, "/template add card\nLine one {{ now.year }}\n  indented {{ 2 + 2 }}")
    shown = await say(app, "/template show card")
    assert "Line one {{ now.year }}\n  indented {{ 2 + 2 }}" in shown
    await say(app, "/template add fenced\n```jinja\n<b>{{ findings|length }} findings</b>\n```")
    assert await say(app, "/briefing fenced") == "8 findings"


async def test_syntax_error_is_refused_with_its_line_and_nothing_saved(app: Services) -> None:
    message = await refused(app, "/template add bad\nHello\n{% for f in findings %}\n{{ f }}")
    assert "“bad” was not saved" in message
    assert re.search(r"line \d", message)
    assert "endfor" in message
    assert await store_of(app).list_templates(GROUP.key) == []


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ findings[0].nope }}", "has no attribute 'nope'"),
        ("x" * 8_001, "the limit is 8,000"),
        ("{{ ''.__class__ }}", "not allowed"),
        ("{% include 'digest.j2' %}", "not available in chat templates"),
        ("{% for a in alerts %}{{ a.missing }}{% endfor %}", "no attribute 'missing'"),
        ('{{ search("vetting", 50) }}', "1 to 10 passages"),
    ],
)
async def test_a_template_that_fails_on_sample_data_is_refused_saying_why(
    app: Services, source: str, reason: str
) -> None:
    message = await refused(app, f"/template add broken {source}")
    assert "was not saved" in message
    assert reason in message
    assert await store_of(app).get_template(GROUP.key, "broken") is None


async def test_long_output_is_cut_off_with_a_marker(app: Services) -> None:
    await say(app, "/template add long {% for i in range(100000) %}words {% endfor %}")
    shown = await say(app, "/briefing long", sender=READER)
    assert shown.startswith("words words")
    assert shown.endswith("… (cut off at 16,000 characters)")
    assert len(shown) == 16_000 + len("\n… (cut off at 16,000 characters)")


async def test_a_template_that_overruns_is_refused(app: Services) -> None:
    looping = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
    message = await refused(app, f"/template add forever {looping}")
    assert "longer than 2 seconds" in message
    assert await store_of(app).get_template(GROUP.key, "forever") is None
    await say(app, "/template add after {{ 'the pool still works' }}")
    assert await say(app, "/briefing after") == "the pool still works"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("bad!name", "letters, digits, - and _"),
        ("x" * 33, "at most 32 characters"),
        ("default", "built-in digest"),
    ],
)
async def test_bad_names_are_refused(app: Services, name: str, reason: str) -> None:
    assert reason in await refused(app, f"/template add {name} Hello")


async def test_names_are_case_insensitive_and_duplicates_refused(app: Services) -> None:
    await say(app, "/template add Weekly-Vetting hi")
    assert "already has a template “weekly-vetting”" in await refused(
        app, "/template add weekly-vetting again"
    )
    assert await say(app, "/briefing WEEKLY-VETTING") == "hi"


async def test_empty_text_is_refused_with_an_example(app: Services) -> None:
    assert "has no text" in await refused(app, "/template add empty")


# -- moderators only ----------------------------------------------------------------------------


async def test_a_non_moderator_cannot_change_templates_and_nothing_changes(
    app: Services,
) -> None:
    await say(app, "/template add kept Original")
    before = await store_of(app).template_history(GROUP.key, "kept")
    for text in (
        "/template add mine Hello",
        "/template edit kept Changed",
        "/template rollback kept 1",
        "/template use kept",
        "/template remove kept",
    ):
        assert "Only this chat's moderators" in await refused(app, text, sender=READER)
    assert await store_of(app).template_history(GROUP.key, "kept") == before
    assert await store_of(app).get_template(GROUP.key, "mine") is None
    assert await store_of(app).get_digest_template(GROUP.key) is None
    # Reading is for everyone.
    assert await say(app, "/briefing kept", sender=READER) == "Original"
    assert "kept" in await say(app, "/template list", sender=READER)
    assert "Original" in await say(app, "/template preview kept", sender=READER)
    assert "version 1" in await say(app, "/template history kept", sender=READER)


# -- versions -----------------------------------------------------------------------------------


async def test_edit_history_and_rollback_keep_every_version(app: Services) -> None:
    await say(app, "/template add card First")
    app.clock = FixedClock(T0 + timedelta(hours=1))
    assert "version 2" in await say(app, "/template edit card Second")
    assert "already the text" in await say(app, "/template edit card Second")
    history = await say(app, "/template history card")
    assert "version 1: 1 Mar 2024 09:00 by Mona" in history
    assert "version 2: 1 Mar 2024 10:00 by Mona" in history and "(current)" in history
    assert "First" in await say(app, "/template show card 1")
    said = await say(app, "/template rollback card 1")
    assert "saved as version 3" in said
    assert await say(app, "/briefing card") == "First"
    assert "no version 9" in await refused(app, "/template show card 9")
    assert "not a version number" in await refused(app, "/template rollback card latest")
    versions = await store_of(app).template_history(GROUP.key, "card")
    assert [v.source for v in versions] == ["First", "Second", "First"]


@pytest.mark.parametrize("number", ["99999999999999999999999", "9223372036854775808", "9" * 5_000])
async def test_a_huge_version_number_is_no_such_version(
    app: Services, tmp_path: Path, number: str
) -> None:
    sqlite = await SqliteStore.open(tmp_path / "bot.db")
    try:
        app = replace(app, store=sqlite)
        await say(app, "/template add card First")
        for command in ("show", "rollback"):
            said = await refused(app, f"/template {command} card {number}")
            assert "has no version" in said or "not a version number" in said
            assert len(said) < 200
        assert "“card” has no version 99999999999999999999…" in await refused(
            app, "/template show card 99999999999999999999999"
        )
        assert "not a version number" in await refused(app, "/template show card ²")
    finally:
        await sqlite.close()


async def test_edit_is_checked_too(app: Services) -> None:
    await say(app, "/template add card Fine")
    assert "was not saved" in await refused(app, "/template edit card {{ oops(")
    assert await say(app, "/briefing card") == "Fine"


# -- the digest's template ----------------------------------------------------------------------


async def test_use_sets_the_digest_template_and_default_goes_back(app: Services) -> None:
    await say(app, "/template add weekly Weekly")
    assert "now uses “weekly”" in await say(app, "/template use weekly")
    assert await store_of(app).get_digest_template(GROUP.key) == "weekly"
    assert "used for the digest" in await say(app, "/template list")
    assert "Did you mean “weekly”" in await refused(app, "/template use weeky")
    assert "built-in format again" in await say(app, "/template use default")
    assert await store_of(app).get_digest_template(GROUP.key) is None


async def test_remove_deletes_history_and_resets_the_digest(app: Services) -> None:
    await say(app, "/template add weekly Weekly")
    await say(app, "/template use weekly")
    assert "built-in format again" in await say(app, "/template remove weekly")
    assert await store_of(app).get_digest_template(GROUP.key) is None
    assert "no template “weekly”" in await refused(app, "/briefing weekly")
    assert "no templates yet" in await say(app, "/template list")


# -- chats are separate -------------------------------------------------------------------------


async def test_one_chats_templates_are_invisible_to_another(app: Services) -> None:
    await say(app, "/template add private Secret plans of group one")
    assert "no templates yet" in await say(app, "/template list", chat=OTHER)
    for text in ("/briefing private", "/template show private", "/template preview private"):
        assert "no template “private”" in await refused(app, text, chat=OTHER)
    await say(app, "/template add private Group two's own", chat=OTHER)
    assert await say(app, "/briefing private", chat=OTHER) == "Group two's own"
    assert await say(app, "/briefing private") == "Secret plans of group one"


# -- rendering on real data ---------------------------------------------------------------------


async def test_preview_renders_the_example_on_this_chats_real_data(app: Services) -> None:
    store = store_of(app)
    await store.add_alert(GROUP, "stop and search", "Europe/London", T0)
    await store.add_document(
        DocumentRecord(
            id="new-doc",
            title="Met responds to the review",
            added_at=T0 - timedelta(days=1),
            text_hash=text_hash("x"),
            text="x",
            outlet="BBC News",
            date="2024-02-29",
        )
    )
    example = app.views.source("template_example.j2")
    await say(app, f"/template add vetting\n{example}")
    preview = await say(app, "/template preview vetting", sender=READER)
    assert preview.startswith("Preview of “vetting”, version 1:")
    assert "Where are we on vetting? Friday 1 March" in preview
    assert "Recommendation " in preview
    assert "Latest passages on vetting" in preview
    assert "Met responds to the review, BBC News, 29 Feb 2024" in preview
    assert "Your alerts: stop and search" in preview


async def test_now_is_in_the_chats_time_zone(app: Services) -> None:
    await say(app, "/template add clock {{ now }} | {{ now.time }} {{ now.timezone }}")
    assert await say(app, "/briefing clock") == (
        "Friday 1 March 2024, 09:00 GMT | 09:00 Europe/London"
    )
    await store_of(app).set_timezone(GROUP, "America/New_York", T0)
    assert await say(app, "/briefing clock") == (
        "Friday 1 March 2024, 04:00 EST | 04:00 America/New_York"
    )


async def test_values_from_documents_and_users_stay_text(app: Services) -> None:
    hostile = DocumentMeta(
        id="hostile", title="<b>Breaking</b> @everyone", outlet="<a href='https://x'>X</a>"
    )
    app.corpus = replace(app.corpus, documents=(*app.corpus.documents, Document(hostile, "t")))
    await store_of(app).add_alert(GROUP, "<code>@here</code>", "UTC", T0)
    await say(
        app,
        "/template add show\n"
        "{% for d in documents if d.title.startswith('<') %}<i>{{ d.title }} {{ d.source }}"
        "</i>{% endfor %}<br>{{ alerts|join }}",
    )
    reply = await send(app, "/briefing show", sender=READER)
    first, second = reply.lines
    assert "".join(s.text for s in first) == "<b>Breaking</b> @everyone <a href='https://x'>X</a>"
    assert all(s.italic and not s.bold and s.link is None for s in first)
    assert [(s.text, s.code) for s in second] == [("<code>@here</code>", False)]


async def test_search_results_come_from_the_index(app: Services) -> None:
    await say(
        app,
        '/template add found {% for p in search("rape kits fridges", 2) %}'
        "[{{ p.source }}] {{ p.excerpt }}\n{% endfor %}",
    )
    found = await say(app, "/briefing found")
    assert found.count("[") == 2
    assert "fridge" in found.lower()
    assert "in quotes" in await refused(app, "/template add computed {{ search(alerts[0]) }}")


class CountingIndex:
    """The real index, counting the searches asked of it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.queries: list[str] = []

    def search(self, query: str, k: int = 5) -> Any:
        self.queries.append(query)
        return self.inner.search(query, k)


GIBBERISH = " ".join(f"zq{i}xv" for i in range(12))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        (f'{{{{ search("{GIBBERISH}") }}}}' + "x" * 8_000, "the limit is 8,000"),
        (f'{{{{ search("{GIBBERISH}") }}}}' + "{{ (" * 40, "nested more than 32"),
        (f'{{{{ search("{GIBBERISH}") }}}}\n{{{{ $ }}}}', "line 2: unexpected char"),
        ("".join(f'{{{{ search("{w}") }}}}' for w in GIBBERISH.split()), "the limit is 8"),
        (f'{{{{ search("{GIBBERISH} more") }}}}', "up to 12 words"),
        (f'{{{{ search("{"z" * 121}") }}}}', "120 characters"),
    ],
)
async def test_a_refused_template_searches_nothing(
    app: Services, source: str, reason: str
) -> None:
    index = CountingIndex(app.index)
    app = replace(app, index=index)  # type: ignore[arg-type]
    message = await refused(app, f"/template add big {source}")
    assert reason in message and "was not saved" in message
    assert index.queries == []
    await say(app, '/template add small {{ search("vetting")|length }}')
    assert index.queries == ["vetting"]


class SlowIndex(CountingIndex):
    """The real index, taking as long over each search as a slow machine's model does."""

    def search(self, query: str, k: int = 5) -> Any:
        import time  # noqa: PLC0415 - this fake alone blocks, as the model's C code does

        time.sleep(0.05)
        return super().search(query, k)


async def test_saving_a_template_that_searches_leaves_other_chats_served(
    app: Services,
) -> None:
    index = SlowIndex(app.index)
    app = replace(app, index=index)  # type: ignore[arg-type]
    words = ("vetting", "misogyny", "racism", "homophobia", "trust", "leaders")
    source = "".join(f'{{{{ search("{w}")|length }}}}' for w in words)
    gaps: list[float] = []

    async def other_chat() -> None:  # how long the event loop goes unserved meanwhile
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            gaps.append(loop.time() - before)

    ticking = asyncio.create_task(other_chat())
    await asyncio.sleep(0.01)
    try:
        said = await say(app, f"/template add topics {source}")
    finally:
        ticking.cancel()
    assert "Saved template “topics”" in said
    assert sorted(index.queries) == sorted(words)  # six searches, 0.3 s in all
    assert max(gaps) < 0.2


# -- help, errors, the digest seam -----------------------------------------------------------


async def test_help_lists_variables_filters_and_the_example(app: Services) -> None:
    reply = await send(app, "/template help", sender=READER)
    text = reply.plain
    for word in ("findings", "recommendations", "chapters", "new_documents", "alerts", "now",
                 'search("words", k)', 'date("%d %B %Y")', "8,000", "16,000", "2 seconds",
                 "256 MB", "/briefing NAME", "<b>"):
        assert word in text, word
    code = [span.text for line in reply.lines for span in line if span.code]
    example = app.views.source("template_example.j2").splitlines()
    assert code == [line for line in example if line]


async def test_unknown_action_suggests_the_nearest(app: Services) -> None:
    assert "Did you mean /template preview?" in await refused(app, "/template previw x")
    assert "/template help" in await say(app, "/template")


async def test_without_a_store_or_sandbox_the_answer_says_so(app: Services) -> None:
    app.store = None
    assert "database" in await refused(app, "/template list")
    app.store, app.sandbox = InMemoryStore(), None
    assert "switched off" in await refused(app, "/briefing x")


async def test_a_chat_past_its_share_of_the_renderer_is_told_to_wait(app: Services) -> None:
    box = TemplateSandbox(workers=1, chat_seconds=0.1)
    app = replace(app, sandbox=box)
    try:
        slow = "{% for i in range(6000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}ok"
        await say(app, f"/template add slow {slow}")  # the check on saving is charged too
        said = await refused(app, "/briefing slow", sender=READER)
        assert "This chat's templates have used their share of the renderer" in said
        assert re.search(r"try again in \d+ seconds", said)
        await say(app, "/template add quick {{ 6 * 7 }}", chat=OTHER)
        assert await say(app, "/briefing quick", sender=READER, chat=OTHER) == "42"
    finally:
        await box.close()


async def test_render_custom_renders_a_digest_template(
    app: Services, sandbox: TemplateSandbox
) -> None:
    render = make_render_custom(sandbox, TemplateContexts(app.corpus, app.index), FixedClock(T0))
    digest_context = {  # the shape bot.digests.digest builds
        "timezone": "Europe/London",
        "alerts": [{"alerts": ["vetting"], "excerpt": [["x", False]], "citation": {}}],
        "new_documents": [{"document_id": "d1", "title": "New one", "outlet": None,
                           "source": "New one", "date": "2024-02-29", "url": None,
                           "added_at": "2024-02-29T10:00:00+00:00"}],
    }
    lines = await render(
        "<b>{{ now.weekday }}</b> {{ alerts|join(', ') }}: "
        "{% for d in new_documents %}{{ d.title }} ({{ d.date|date('%d %b') }}){% endfor %}",
        digest_context,
    )
    assert len(lines) == 1
    assert lines[0][0].text == "Friday" and lines[0][0].bold
    assert lines[0][1].text == " vetting: New one (29 Feb)"
    with pytest.raises(TemplateRejected):
        await render("{{ nope }}", digest_context)


async def test_render_custom_batches_concurrent_calls_and_keeps_failures_apart(
    app: Services, sandbox: TemplateSandbox
) -> None:
    render = make_render_custom(sandbox, TemplateContexts(app.corpus, app.index), FixedClock(T0))
    source = "{{ 12 // (alerts|length) }} for {{ alerts|join('+') }}"
    chats = [{"alert_words": ["a"]}, {"alert_words": []}, {"alert_words": ["b", "c"]}]
    results = await asyncio.gather(*(render(source, c) for c in chats), return_exceptions=True)
    first, second, third = results
    assert not isinstance(first, BaseException) and first[0][0].text == "12 for a"
    assert isinstance(second, TemplateRejected) and "ZeroDivisionError" in str(second)
    assert not isinstance(third, BaseException) and third[0][0].text == "6 for b+c"


async def test_a_digest_pass_gives_up_on_templates_when_its_time_is_up(
    app: Services, caplog: pytest.LogCaptureFixture
) -> None:
    box = TemplateSandbox(workers=1)
    contexts = TemplateContexts(app.corpus, app.index)
    render = make_render_custom(box, contexts, FixedClock(T0), pass_budget=0.5)
    slow = "{% for i in range(6000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"
    try:
        results = await asyncio.gather(
            *(render(f"{slow}chat {i}", {}) for i in range(10)), return_exceptions=True
        )
    finally:
        await box.close()
    rendered = [r for r in results if not isinstance(r, BaseException)]
    skipped = [r for r in results if isinstance(r, TemplateOutOfTime)]
    assert rendered and skipped and len(rendered) + len(skipped) == 10
    assert all("ran out of time" in str(r) for r in skipped)
    assert f"ran out; {len(skipped)} chats get the built-in digest" in caplog.text


async def test_a_digest_whose_template_meets_a_stopping_renderer_is_held_not_sent_plain(
    app: Services, sandbox: TemplateSandbox
) -> None:
    from bot.digests.digest import DigestBuilder  # noqa: PLC0415
    from bot.digests.schedule import parse_schedule  # noqa: PLC0415
    from bot.digests.scheduler import Scheduler  # noqa: PLC0415
    from tests.inquiry_fixtures import RecordingSender  # noqa: PLC0415

    store = store_of(app)
    for chat in (GROUP, OTHER):
        await store.subscribe(chat, parse_schedule("daily 08:00"), "UTC", T0 - timedelta(days=1))
    await store.save_template(GROUP.key, "own", "Our own: {{ findings|length }}", "M", T0)
    await store.set_digest_template(GROUP.key, "own")
    stopping = TemplateSandbox(workers=1)
    await stopping.start()
    await stopping.close()  # serve is shutting down: the renderer refuses new work

    def scheduler(box: TemplateSandbox, sender: RecordingSender) -> Scheduler:
        render = make_render_custom(box, TemplateContexts(app.corpus, app.index), FixedClock(T0))
        builder = DigestBuilder(app.corpus, app.views, store, render)
        return Scheduler(store, {"telegram": sender}, builder, FixedClock(T0))

    sender = RecordingSender(platform="telegram")
    await scheduler(stopping, sender).run_once(T0.replace(hour=8, minute=1))
    assert sender.to(GROUP.id) == []  # held for the next process, not sent in plain form
    [plain] = sender.to(OTHER.id)
    assert "Finding 1" in plain
    await scheduler(sandbox, sender).run_once(T0.replace(hour=8, minute=2))
    assert sender.to(GROUP.id) == ["Our own: 8"]


async def test_render_custom_follows_the_services_corpus(
    app: Services, sandbox: TemplateSandbox
) -> None:
    render = make_render_custom(sandbox, current_contexts(app), FixedClock(T0))
    source = "{{ documents|length }} documents"
    before = len(app.corpus.documents)
    assert (await render(source, {}))[0][0].text == f"{before} documents"
    added = Document(DocumentMeta(id="ingested", title="Ingested later"), "text")
    app.corpus = replace(app.corpus, documents=(*app.corpus.documents, added))
    assert (await render(source, {}))[0][0].text == f"{before + 1} documents"


async def test_search_calls_are_found_in_the_template() -> None:
    source = (
        '{% for p in search("Vetting", 2) %}{% endfor %}{{ search(words="misogyny", k=4) }}'
        '{{ search(topic) }}{{ doc.search("no") }}{{ search("vetting",  2) }}'
    )
    assert [(c.words, c.k) for c in search_calls(source)] == [("Vetting", 2), ("misogyny", 4)]


async def test_example_and_help_templates_are_package_data(repo_root: Path) -> None:
    for name in ("template_example.j2", "template_help.j2"):
        assert (repo_root / "briefings" / name).is_file()
