"""Shared fixtures: the real corpus and index (built once), and an end-to-end chat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from adapters.app import Config, build_bot, build_services
from adapters.storage.sqlite import SqliteStore
from bot.core import BriefingBot
from bot.documents import default_corpus_dir
from bot.messages import ChatKind, ChatRef, IncomingMessage, Reply, SenderRef
from bot.services import Services
from bot.store import InMemoryStore, Store

Chat = Callable[[str], Awaitable[Reply]]


@pytest.fixture(scope="session")
def seed_services_factory() -> Callable[[], Services]:
    config = Config(corpus_dir=default_corpus_dir(), cache_dir=None, db_path=None)
    first = build_services(config)

    def make() -> Services:
        # Each test gets fresh per-chat state (pages) over the shared, read-only corpus and index.
        return Services(
            corpus=first.corpus,
            index=first.index,
            views=first.views,
            moderators=first.moderators,
            bot_name=first.bot_name,
        )

    return make


@pytest.fixture
def services(seed_services_factory: Callable[[], Services]) -> Services:
    return seed_services_factory()


@pytest.fixture
def bot(services: Services) -> BriefingBot:
    return build_bot(services)


@pytest.fixture
def chat(bot: BriefingBot) -> Chat:
    """errbot-style: ``await chat("/rec 3")`` runs the whole core and returns the reply."""
    room = ChatRef("console", "test-chat", ChatKind.PRIVATE)
    person = SenderRef("reader-1", "Reader")

    async def say(text: str) -> Reply:
        reply = await bot.handle(IncomingMessage(room, person, text))
        assert reply is not None, f"no reply to {text!r}"
        return reply

    return say


@pytest.fixture(params=["memory", "sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store test runs against both implementations: one contract, two stores."""
    if request.param == "memory":
        yield InMemoryStore()
        return
    opened = await SqliteStore.open(tmp_path / "bot.db")
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
