"""Several inquiries in one bot: each chat follows its own, and gets its own briefings."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from adapters.app import Config, build_bot, build_services, digest_maker
from adapters.storage.sqlite import SqliteStore
from bot.core import BriefingBot
from bot.digests.digest import RenderCustom
from bot.digests.scheduler import Scheduler
from bot.documents import CorpusError, default_corpus_dir
from bot.errors import ConfigError
from bot.inquiries import Catalogue, Inquiry, InquiryStatus, LoadedInquiry, discover
from bot.inquiries.digests import InquiryDigests
from bot.inquiries.loading import make_loader
from bot.messages import ChatRef, IncomingMessage, Line, Reply, SenderRef, Span
from bot.services import Services
from bot.store import DocumentRecord, InMemoryStore, Store, text_hash
from bot.templates.sandbox import TemplateSandbox
from tests.inquiry_fixtures import (
    ADMIN,
    ALICE,
    BOB,
    FIXTURES,
    GROUP,
    MEMBER,
    NOW,
    Admins,
    FixedClock,
    RecordingSender,
    make_corpus,
)


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@dataclass
class Deployment:
    services: Services
    bot: BriefingBot

    async def say(self, chat: ChatRef, text: str, sender: SenderRef = ADMIN) -> Reply:
        reply = await self.bot.handle(IncomingMessage(chat, sender, text))
        assert reply is not None
        return reply

    async def text(self, chat: ChatRef, text: str, sender: SenderRef = ADMIN) -> str:
        return (await self.say(chat, text, sender)).plain

    @property
    def store(self) -> Store:
        assert self.services.store is not None
        return self.services.store

    def scheduler(self, sender: RecordingSender) -> Scheduler:
        """The digest scheduler as ``serve`` wires it, delivering to ``sender``."""
        maker = digest_maker(self.services, self.store)
        return Scheduler(self.store, {"console": sender}, maker, self.services.clock)

    @property
    def catalogue(self) -> Catalogue:
        assert self.services.inquiries is not None
        return self.services.inquiries


@pytest.fixture(params=["memory", "sqlite"])
async def deployment(
    request: pytest.FixtureRequest, corpus_dir: Path, cache_dir: Path, tmp_path: Path
) -> AsyncIterator[Deployment]:
    store: Store = (
        InMemoryStore() if request.param == "memory" else await SqliteStore.open(tmp_path / "db")
    )
    config = Config(corpus_dir=corpus_dir, cache_dir=cache_dir, db_path=None)
    services = build_services(config, Admins(), FixedClock(), store)
    try:
        yield Deployment(services, build_bot(services))
    finally:
        await store.close()


# -- the catalogue ----------------------------------------------------------------------------


def test_a_folder_of_folders_is_a_catalogue_of_inquiries(corpus_dir: Path) -> None:
    casey, harbourside, northgate = discover(corpus_dir)
    assert (casey.name, harbourside.name, northgate.name) == ("casey", "harbourside", "northgate")
    assert casey.status is InquiryStatus.REPORTED and casey.describe_status() == "reported 2023"
    assert harbourside.title == "Harbourside Water Inquiry"
    assert harbourside.chair == "Dame Ada Fenwick"
    assert harbourside.describe_status() == "taking evidence"
    # Without inquiry.json: the folder names it and the report's title is its full name.
    assert northgate.title == "The Northgate Bridge Inquiry: final report"
    assert northgate.documents == 2 and casey.documents == 5


def test_a_flat_folder_is_one_inquiry() -> None:
    [seeds] = discover(default_corpus_dir())
    assert seeds.name == "casey"  # from seeds/inquiry.json
    [northgate] = discover(FIXTURES / "northgate")
    assert northgate.name == "northgate"


def test_the_default_is_configured_else_the_first_by_name(corpus_dir: Path) -> None:
    found = discover(corpus_dir)
    assert Catalogue(found, _no_loading).default.name == "casey"
    assert Catalogue(found, _no_loading, default="Northgate").default.name == "northgate"
    with pytest.raises(ConfigError, match="'nowhere', which is not one of.*casey, harbourside"):
        Catalogue(found, _no_loading, default="nowhere")


def test_a_bad_corpus_layout_is_refused_clearly(tmp_path: Path) -> None:
    make_corpus(tmp_path)
    (tmp_path / "stray.txt").write_text("A document outside any inquiry.")
    with pytest.raises(CorpusError, match="both documents and inquiry folders"):
        discover(tmp_path)
    (tmp_path / "stray.txt").unlink()
    (tmp_path / "northgate" / "inquiry.json").write_text(json.dumps({"name": "casey"}))
    with pytest.raises(CorpusError, match="two inquiries are named 'casey'"):
        discover(tmp_path)
    (tmp_path / "northgate" / "inquiry.json").write_text(json.dumps({"chairman": "X"}))
    with pytest.raises(CorpusError, match="unknown keys chairman"):
        discover(tmp_path)
    (tmp_path / "northgate" / "inquiry.json").write_text(json.dumps({"status": "sleeping"}))
    with pytest.raises(CorpusError, match="'status' must be"):
        discover(tmp_path)


def _no_loading(inquiry: object) -> object:
    raise AssertionError("nothing should be loaded")


async def test_only_the_default_is_loaded_at_start(deployment: Deployment) -> None:
    catalogue = deployment.catalogue
    assert catalogue.loaded("casey") is not None
    assert catalogue.loaded("northgate") is None and catalogue.loaded("harbourside") is None
    await deployment.say(ALICE, "/inquiry northgate")
    assert catalogue.loaded("northgate") is not None and catalogue.loaded("harbourside") is None


async def test_each_inquiry_has_its_own_index_cache(
    deployment: Deployment, cache_dir: Path
) -> None:
    await deployment.say(ALICE, "/inquiry harbourside")
    cached = {p.name for p in (cache_dir / "inquiries").iterdir() if any(p.iterdir())}
    assert {"casey", "harbourside"} <= cached


# -- each chat its own inquiry ----------------------------------------------------------------


async def test_two_chats_on_two_inquiries_get_their_own_briefings(deployment: Deployment) -> None:
    switched = await deployment.text(ALICE, "/inquiry northgate")
    assert "This chat now follows The Northgate Bridge Inquiry: final report" in switched
    assert "5 findings (/findings), 18 recommendations" in switched

    alice_findings = await deployment.text(ALICE, "/findings")
    bob_findings = await deployment.text(BOB, "/findings")
    assert "The scour of the river bed was never measured" in alice_findings
    assert "scour" not in bob_findings and "The report's 8 findings" in bob_findings
    finding = await deployment.text(ALICE, "/finding 1")
    assert "Source: The Northgate Bridge Inquiry: final report" in finding

    # The range is the inquiry's: 18 recommendations on Northgate, 16 on Casey.
    rec = await deployment.text(ALICE, "/recommendation 17")
    assert "Families of those who died should be consulted" in rec
    assert "There are 16 recommendations: 1–16" in await deployment.text(BOB, "/recommendation 17")
    assert "There are 18 recommendations: 1–18" in await deployment.text(ALICE, "/rec 19")

    answer = await deployment.say(ALICE, "when were the piers last inspected by divers?")
    assert answer.results and all(
        r.document in _ids(deployment, "northgate") for r in answer.results
    )
    assert answer.citations[0].inquiry == "The Northgate Bridge Inquiry: final report"
    # Its inquiry named once, under the heading, not before every hit.
    assert answer.plain.count("The Northgate Bridge Inquiry: final report") == 1
    assert "[" not in answer.plain
    bob_answer = await deployment.say(BOB, "vetting")
    assert bob_answer.results
    assert all(r.document in _ids(deployment, "casey") for r in bob_answer.results)
    assert bob_answer.citations[0].inquiry == "The Casey Review of the Metropolitan Police"

    chapters = await deployment.text(ALICE, "/chapters")
    assert "The night of the collapse" in chapters
    sources = await deployment.text(ALICE, "/sources")
    assert "Wend Valley News" in sources and "ITV News" not in sources


def _ids(deployment: Deployment, name: str) -> set[str]:
    loaded = deployment.catalogue.loaded(name)
    assert loaded is not None
    return {d.id for d in loaded.corpus.documents}


async def test_inquiries_lists_them_and_marks_this_chats(deployment: Deployment) -> None:
    await deployment.say(ALICE, "/inquiry harbourside")
    listing = await deployment.text(ALICE, "/inquiries")
    assert "harbourside (this chat's): Harbourside Water Inquiry" in listing
    assert "Taking evidence · 2 documents" in listing
    assert "casey: The Casey Review of the Metropolitan Police" in listing
    assert "Reported 2023 · 5 documents" in listing
    assert "northgate:" in listing and "(this chat's)" not in listing.split("northgate")[1]
    which = await deployment.text(ALICE, "/inquiry")
    assert which.startswith("This chat follows Harbourside Water Inquiry (harbourside).")
    assert "Led by Dame Ada Fenwick. Set up 2020-02-03. Taking evidence." in which
    assert "Other inquiries: casey, northgate" in which


async def test_names_are_matched_forgivingly(deployment: Deployment) -> None:
    for typed in ("North", "NORTHGATE", "northgat", "Northgate Bridge"):
        await deployment.say(ALICE, "/inquiry casey")
        reply = await deployment.text(ALICE, f"/inquiry {typed}")
        assert reply.startswith("This chat now follows The Northgate"), typed
    wrong = await deployment.text(ALICE, "/inquiry harbor")
    assert wrong.startswith("There is no inquiry called “harbor”. Did you mean harbourside?")
    unknown = await deployment.text(ALICE, "/inquiry zzz")
    assert "The inquiries are: casey, harbourside, northgate" in unknown
    assert "scour" in await deployment.text(ALICE, "/findings")  # a wrong name changes nothing


async def test_in_a_group_only_moderators_switch(deployment: Deployment) -> None:
    refused = await deployment.text(GROUP, "/inquiry northgate", MEMBER)
    assert (
        refused
        == "Only this chat's moderators (its admins) can switch the inquiry this chat follows."
    )
    assert "The report's 8 findings" in await deployment.text(GROUP, "/findings", MEMBER)
    assert "now follows" in await deployment.text(GROUP, "/inquiry northgate", ADMIN)
    assert "scour" in await deployment.text(GROUP, "/findings", MEMBER)
    # Anyone may ask which one it is.
    assert "This chat follows The Northgate" in await deployment.text(GROUP, "/inquiry", MEMBER)


async def test_start_says_how_to_switch(deployment: Deployment) -> None:
    start = await deployment.text(BOB, "/start")
    assert "This chat follows The Casey Review of the Metropolitan Police, one of the 3" in start
    assert "/inquiry NAME switches" in start


async def test_search_all_labels_each_hit_with_its_inquiry(deployment: Deployment) -> None:
    reply = await deployment.say(BOB, "/search all inspection")
    inquiries = {c.inquiry for c in reply.citations}
    assert "The Northgate Bridge Inquiry: final report" in inquiries
    # Hits of several inquiries: each names its own, by the short name /inquiry takes.
    assert "[northgate]" in reply.plain and "[casey]" in reply.plain
    assert "The Northgate Bridge Inquiry: final report" not in reply.plain
    # The chat still follows its own inquiry.
    assert "The report's 8 findings" in await deployment.text(BOB, "/findings")
    nothing = await deployment.text(BOB, "/search all zzzqqq")
    assert "/findings" in nothing


async def test_help_lists_the_inquiry_commands(deployment: Deployment) -> None:
    help_text = await deployment.text(BOB, "/help")
    assert "/inquiries" in help_text and "/inquiry [NAME]" in help_text
    assert "/unsubscribe [NAME]" in help_text


# -- digests per inquiry ----------------------------------------------------------------------


async def test_a_chat_gets_a_digest_of_each_inquiry_it_subscribed_to(
    deployment: Deployment,
) -> None:
    assert "digest of The Casey Review" in await deployment.text(ALICE, "/subscribe daily 08:00")
    await deployment.say(ALICE, "/inquiry northgate")
    subscribed = await deployment.text(ALICE, "/subscribe weekly wed 08:00")
    assert "Subscribed: a digest of The Northgate Bridge Inquiry: final report weekly" in subscribed
    await deployment.say(BOB, "/inquiry harbourside")
    await deployment.say(BOB, "/subscribe")

    listing = await deployment.text(ALICE, "/subscriptions")
    assert "This chat's digests" in listing
    assert "The Casey Review of the Metropolitan Police (casey): Daily at 08:00" in listing
    assert "(northgate): Weekly on Wednesday at 08:00" in listing

    sender = RecordingSender()
    scheduler = deployment.scheduler(sender)
    await scheduler.run_once(NOW.replace(day=15, hour=7, minute=0))  # Wednesday 08:00 BST
    alice = sender.to("alice")
    assert len(alice) == 2
    casey = next(d for d in alice if "Casey" in d.splitlines()[0])
    northgate = next(d for d in alice if "Northgate" in d.splitlines()[0])
    assert "Finding 1 of 8" in casey and "Finding 1 of 5" in northgate
    assert "The scour of the river bed" in northgate and "scour" not in casey
    [bob] = sender.to("bob")
    assert "Harbourside Water Inquiry" in bob and "Finding 1 of 3" in bob

    # Each digest walks its own inquiry: the next Casey digest is finding 2.
    await scheduler.run_once(NOW.replace(day=16, hour=7, minute=0))
    [casey_next] = sender.to("alice")[2:]
    assert "Finding 2 of 8" in casey_next

    stopped = await deployment.text(ALICE, "/unsubscribe casey")
    assert stopped.startswith("Unsubscribed from the digest of The Casey Review")
    assert [s.inquiry for s in await deployment.store.list_subscriptions(ALICE.key)] == [
        "northgate"
    ]
    preview = await deployment.text(ALICE, "/digest")
    assert "Finding 2 of 5" in preview  # Northgate's next


async def test_a_digest_of_an_inquiry_no_longer_served_is_held_not_replaced(
    tmp_path: Path, cache_dir: Path
) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    store = await SqliteStore.open(tmp_path / "db")
    try:
        before = _deployment(corpus, cache_dir, store)
        await before.say(ALICE, "/subscribe daily 08:00")
        await before.say(ALICE, "/inquiry northgate")
        await before.say(ALICE, "/subscribe daily 08:00")
        await before.say(BOB, "/inquiry northgate")
        await before.say(BOB, "/subscribe daily 08:00")
        # The operator removes Northgate's folder and restarts the bot.
        shutil.rmtree(corpus / "northgate")
        after = _deployment(corpus, cache_dir, store)
        sender = RecordingSender()
        await after.scheduler(sender).run_once(NOW.replace(day=15, hour=7, minute=0))
        [digest] = sender.to("alice")  # Casey's alone: no Casey digest in Northgate's place
        assert "Casey" in digest.splitlines()[0]
        assert sender.to("bob") == []

        listing = await after.text(ALICE, "/subscriptions")
        assert "northgate: Held: the bot no longer follows this inquiry" in listing
        assert "/unsubscribe northgate stops it" in listing
        stopped = await after.text(ALICE, "/unsubscribe northgate")
        assert stopped.startswith("Unsubscribed from the digest of northgate")
        assert [s.inquiry for s in await store.list_subscriptions(ALICE.key)] == ["casey"]

        # The folder comes back: Bob's held digest resumes where it was.
        shutil.copytree(FIXTURES / "northgate", corpus / "northgate")
        restored = _deployment(corpus, cache_dir, store)
        await restored.scheduler(sender).run_once(NOW.replace(day=16, hour=7, minute=0))
        [northgate] = sender.to("bob")
        assert "Northgate" in northgate.splitlines()[0] and "Finding 1 of 5" in northgate
    finally:
        await store.close()


def _deployment(corpus: Path, cache: Path, store: Store) -> Deployment:
    config = Config(corpus_dir=corpus, cache_dir=cache, db_path=None)
    services = build_services(config, Admins(), FixedClock(), store)
    return Deployment(services, build_bot(services))


async def test_alerts_watch_the_subscribed_inquirys_new_documents(deployment: Deployment) -> None:
    for chat, name in ((ALICE, "harbourside"), (BOB, "casey")):
        await deployment.say(chat, f"/inquiry {name}")
        await deployment.say(chat, "/subscribe")
        await deployment.say(chat, "/alert add chlorine")
    text = "The reservoir chlorine dosing pump failed again in March, the utility admitted."
    added = NOW.replace(day=14, hour=12)
    record = DocumentRecord(
        "pump-again",
        "Pump failed again",
        added,
        text_hash(text),
        text,
        outlet="Harbourside Gazette",
        inquiry="harbourside",
    )
    assert await deployment.store.add_document(record)

    sender = RecordingSender()
    scheduler = deployment.scheduler(sender)
    await scheduler.run_once(NOW.replace(day=15, hour=7, minute=0))
    [alice] = sender.to("alice")
    [bob] = sender.to("bob")
    assert "Pump failed again" in alice and "dosing pump" in alice
    assert "Pump failed again" not in bob and "dosing pump" not in bob


# -- templates --------------------------------------------------------------------------------


async def test_templates_see_the_chats_inquiry_and_all_inquiries(deployment: Deployment) -> None:
    sandbox = TemplateSandbox()
    deployment.services.sandbox = sandbox
    bot = build_bot(deployment.services)  # wires the digest renderer to the sandbox
    try:
        card = (
            "<b>{{ inquiry.title }}</b> ({{ inquiry.status or 'status unknown' }}): "
            "{{ findings|length }} findings, {{ recommendations|length }} recommendations, "
            "{{ documents|length }} documents. First: {{ findings[0].title }}. "
            'Top hit: {% for p in search("inspection", 1) %}{{ p.source }}{% endfor %}. '
            'All: {{ inquiries|map(attribute="name")|join(", ") }}.'
        )
        for chat in (ALICE, BOB):
            reply = await bot.handle(IncomingMessage(chat, ADMIN, f"/template add card {card}"))
            assert reply is not None and "Saved template" in reply.plain, reply.plain
        await bot.handle(IncomingMessage(ALICE, ADMIN, "/inquiry northgate"))
        alice = await bot.handle(IncomingMessage(ALICE, ADMIN, "/briefing card"))
        bob = await bot.handle(IncomingMessage(BOB, ADMIN, "/briefing card"))
        assert alice is not None and bob is not None
        assert alice.plain == (
            "The Northgate Bridge Inquiry: final report (status unknown): 5 findings, "
            "18 recommendations, 2 documents. First: The scour of the river bed was never "
            "measured. Top hit: Northgate Bridge Inquiry. All: casey, harbourside, northgate."
        )
        assert bob.plain.startswith(
            "The Casey Review of the Metropolitan Police (reported): 8 findings, "
            "16 recommendations, 5 documents."
        )

        # A digest template renders each subscription's digest with that inquiry's data.
        await bot.handle(IncomingMessage(ALICE, ADMIN, "/template use card"))
        await bot.handle(IncomingMessage(ALICE, ADMIN, "/subscribe"))
        await bot.handle(IncomingMessage(ALICE, ADMIN, "/inquiry harbourside"))
        await bot.handle(IncomingMessage(ALICE, ADMIN, "/subscribe"))
        sender = RecordingSender()
        scheduler = deployment.scheduler(sender)
        await scheduler.run_once(NOW.replace(day=15, hour=7, minute=0))
        digests = sorted(sender.to("alice"))
        assert [d.split(" (")[0] for d in digests] == [
            "Harbourside Water Inquiry",
            "The Northgate Bridge Inquiry: final report",
        ]
    finally:
        await sandbox.close()


async def test_an_inquiry_whose_documents_cannot_be_read_leaves_chats_where_they_are(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    for document in _documents(corpus / "northgate"):
        document.write_bytes(b"\xff\xfe not text \xff")
    (corpus / "northgate" / "broken.txt").write_bytes(b"\xff\xfe not text \xff")
    config = Config(corpus_dir=corpus, cache_dir=None, db_path=None)
    services = build_services(config, Admins(), FixedClock(), InMemoryStore())
    deployment = Deployment(services, build_bot(services))

    refused = await deployment.text(ALICE, "/inquiry northgate")
    assert refused.startswith("The documents of The Northgate Bridge Inquiry")
    assert "This chat stays on the inquiry it follows" in refused
    assert "The report's 8 findings" in await deployment.text(ALICE, "/findings")
    assert "broken.txt: not UTF-8 text" in caplog.text  # the operator's log says why
    # A chat already on it (the files broke after it switched) can still switch away.
    await deployment.store.set_chat_inquiry(BOB, "northgate", "Europe/London", NOW)
    stuck = await deployment.text(BOB, "/findings")
    assert "could not be read just now" in stuck and "/inquiry NAME" in stuck
    assert "now follows Harbourside" in await deployment.text(BOB, "/inquiry harbourside")


async def test_one_damaged_document_is_left_out_and_the_rest_served(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    corpus = make_corpus(tmp_path / "corpus")
    (corpus / "northgate" / "broken.txt").write_bytes(b"\xff\xfe not text \xff")
    config = Config(corpus_dir=corpus, cache_dir=None, db_path=None)
    services = build_services(config, Admins(), FixedClock(), InMemoryStore())
    deployment = Deployment(services, build_bot(services))

    switched = await deployment.text(ALICE, "/inquiry northgate")
    assert "This chat now follows The Northgate Bridge Inquiry" in switched
    assert "2 documents, 5 findings" in switched
    [error] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "broken.txt: not UTF-8 text" in error.getMessage()
    assert "left out: the other 2 documents" in error.getMessage()


def _documents(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.suffix in (".txt", ".md", ".html", ".pdf")]


def test_folders_that_are_not_inquiries_are_skipped(tmp_path: Path) -> None:
    make_corpus(tmp_path)
    (tmp_path / "_drafts").mkdir()
    (tmp_path / "_drafts" / "draft.txt").write_text("Not yet published.")
    (tmp_path / ".git").mkdir()
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("a,b")
    names = [i.name for i in discover(tmp_path)]
    assert names == ["casey", "harbourside", "northgate"]
    # A reported date alone means it has reported.
    (tmp_path / "northgate" / "inquiry.json").write_text(json.dumps({"reported": "2024-11"}))
    northgate = discover(tmp_path)[2]
    assert northgate.status is InquiryStatus.REPORTED
    assert northgate.describe_status() == "reported 2024"


async def test_loading_an_inquiry_holds_up_no_other_chat(corpus_dir: Path, cache_dir: Path) -> None:
    config = Config(corpus_dir=corpus_dir, cache_dir=cache_dir, db_path=None)
    services = build_services(config, Admins(), FixedClock(), InMemoryStore())
    load = make_loader(cache_dir, {})
    release = threading.Event()

    def slow(inquiry: Inquiry) -> LoadedInquiry:
        if inquiry.name == "northgate":
            assert release.wait(10)
        return load(inquiry)

    services.inquiries = Catalogue(discover(corpus_dir), slow)
    deployment = Deployment(services, build_bot(services))
    switching = asyncio.create_task(deployment.text(ALICE, "/inquiry northgate"))
    await asyncio.sleep(0.05)
    assert not switching.done()
    # Another chat is answered while Northgate is still loading.
    assert "The report's 8 findings" in await deployment.text(BOB, "/findings")
    release.set()
    assert "now follows" in await switching


async def test_pause_and_resume_name_an_inquiry(deployment: Deployment) -> None:
    await deployment.say(ALICE, "/subscribe")
    await deployment.say(ALICE, "/inquiry harbourside")
    assert "no digest of Harbourside Water Inquiry to pause" in await deployment.text(
        ALICE, "/pause"
    )
    assert (await deployment.text(ALICE, "/pause casey")).startswith("Paused")
    sub = await deployment.store.get_subscription(ALICE.key, "casey")
    assert sub is not None and sub.paused
    assert (await deployment.text(ALICE, "/resume casey")).startswith("Resumed")
    wrong = await deployment.text(ALICE, "/unsubscribe harbor")
    assert "Did you mean harbourside?" in wrong
    assert await deployment.store.get_subscription(ALICE.key, "casey") is not None


async def test_unsubscribing_needs_the_inquirys_exact_name(deployment: Deployment) -> None:
    await deployment.say(ALICE, "/subscribe")
    near = await deployment.text(ALICE, "/unsubscribe casy")
    assert "Did you mean casey? To stop the digest of The Casey Review" in near
    assert "/unsubscribe casey" in near
    assert await deployment.store.get_subscription(ALICE.key, "casey") is not None
    stopped = await deployment.text(ALICE, "/unsubscribe CASEY")
    assert stopped.startswith("Unsubscribed")
    assert await deployment.store.get_subscription(ALICE.key, "casey") is None


async def test_chats_templates_of_every_inquiry_render_in_one_pass_window(
    deployment: Deployment,
) -> None:
    """A digest pass bounds chats' own templates to one window (PASS_BUDGET) in all: the
    renders for several inquiries' digests are under way together, not one inquiry's window
    after another's."""
    for chat, inquiry in ((ALICE, "casey"), (BOB, "harbourside")):
        await deployment.say(chat, f"/inquiry {inquiry}")
        await deployment.say(chat, "/subscribe daily 08:00")
        await deployment.store.save_template(chat.key, "mine", "{{ inquiry.name }}", "t", NOW)
        await deployment.store.set_digest_template(chat.key, "mine")
    started: list[str] = []
    both_started = asyncio.Event()

    def renderer_for(services: Services) -> RenderCustom:
        name = services.inquiry.name if services.inquiry else ""

        async def render(source: str, context: Mapping[str, Any]) -> tuple[Line, ...]:
            started.append(name)
            if len(started) == 2:
                both_started.set()
            # Sequential inquiries would never get here for the second one: fail, not hang.
            await asyncio.wait_for(both_started.wait(), timeout=5)
            return ((Span(f"own digest of {name}"),),)

        return render

    maker = InquiryDigests(deployment.services, deployment.store, renderer_for)
    sender = RecordingSender()
    scheduler = Scheduler(deployment.store, {"console": sender}, maker, deployment.services.clock)
    await scheduler.run_once(NOW.replace(day=15, hour=7, minute=0))
    assert sorted(started) == ["casey", "harbourside"]
    assert sender.to("alice") == ["own digest of casey"]
    assert sender.to("bob") == ["own digest of harbourside"]
