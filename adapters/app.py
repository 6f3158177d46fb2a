"""The composition root: configuration in, a wired-up core out."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

from adapters.storage.postgres import is_postgres_url
from adapters.storage.sqlite import default_db_path
from adapters.storage.urls import open_store, sqlite_path
from bot.briefing_commands import build_table
from bot.core import BriefingBot
from bot.digests.digest import RenderCustom
from bot.digests.schedule import configured_timezone
from bot.digests.scheduler import LEASE, AfterPass, DeliveryRecord, Scheduler
from bot.documents import default_corpus_dir
from bot.errors import ConfigError
from bot.inquiries import Catalogue, discover
from bot.inquiries.commands import inquiry_commands
from bot.inquiries.digests import InquiryDigests, InquiryRenderers
from bot.inquiries.loading import group_by_inquiry, make_loader
from bot.ports import (
    Clock,
    EveryoneModerates,
    ModeratorCheck,
    PlatformModerators,
    Sender,
    SystemClock,
)
from bot.search.embedding import Embedder, load_embedder
from bot.services import Services
from bot.store import DocumentRecord, Store
from bot.subscription_commands import subscription_commands
from bot.templates.commands import current_contexts, template_commands
from bot.templates.digest_render import make_render_custom
from bot.templates.sandbox import TemplateSandbox
from bot.views import Views

logger = logging.getLogger(__name__)

LEASE_ENV = "INQUIRY_BOT_LEASE_SECONDS"


_OFF = frozenset({"0", "off", "no", "false"})


# Each chat platform ``serve`` and ``digests`` know, and the variable whose token turns it on.
PLATFORM_TOKENS = {"telegram": "TELEGRAM_BOT_TOKEN", "discord": "DISCORD_BOT_TOKEN"}


def missing_tokens(env: Mapping[str, str]) -> dict[str, str]:
    """platform -> why it is off, for each platform whose token is not set."""
    return {
        name: f"{variable} is not set"
        for name, variable in PLATFORM_TOKENS.items()
        if not env.get(variable, "").strip()
    }


def default_cache_dir(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "inquiry-bot"


@dataclass(frozen=True)
class Config:
    corpus_dir: Path
    cache_dir: Path | None
    db_path: Path | None
    timezone: str = "Europe/London"
    bot_name: str = "InquiryBot"
    db_url: str | None = None  # a PostgreSQL URL, used instead of db_path when set
    lease: timedelta = LEASE  # how long a digest being sent is held before a takeover
    semantic: bool = True  # semantic search with the bundled model (INQUIRY_BOT_SEMANTIC=0: off)
    default_inquiry: str | None = None  # else the only one, else the first by name

    @property
    def database(self) -> str | Path:
        """The database to open: a PostgreSQL URL or a SQLite file."""
        if self.db_url:
            return self.db_url
        if self.db_path:
            return self.db_path
        from_env = os.environ.get("INQUIRY_BOT_DB", "")
        return from_env if is_postgres_url(from_env) else default_db_path()

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        corpus: str | None = None,
        db: str | None = None,
        no_cache: bool = False,
    ) -> Config:
        env = os.environ if env is None else env
        corpus_dir = corpus or env.get("INQUIRY_BOT_CORPUS")
        cache = env.get("INQUIRY_BOT_CACHE")
        database = db or env.get("INQUIRY_BOT_DB")
        postgres = bool(database) and is_postgres_url(str(database))
        return cls(
            corpus_dir=Path(corpus_dir).expanduser() if corpus_dir else default_corpus_dir(),
            cache_dir=None if no_cache else Path(cache) if cache else default_cache_dir(env),
            db_path=sqlite_path(database) if database and not postgres else None,
            timezone=env.get("INQUIRY_BOT_TIMEZONE", "Europe/London"),
            bot_name=env.get("INQUIRY_BOT_NAME", "InquiryBot"),
            db_url=database if postgres else None,
            lease=lease_from_env(env),
            semantic=env.get("INQUIRY_BOT_SEMANTIC", "1").strip().lower() not in _OFF,
            default_inquiry=env.get("INQUIRY_BOT_DEFAULT_INQUIRY") or None,
        )


def lease_from_env(env: Mapping[str, str]) -> timedelta:
    """$INQUIRY_BOT_LEASE_SECONDS: how long a digest being sent is held (default 300)."""
    text = env.get(LEASE_ENV, "").strip()
    if not text:
        return LEASE
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 1 <= seconds <= 86_400:
        raise ConfigError(
            f"{LEASE_ENV}={text!r} is not a number of seconds from 1 to 86400 "
            f"(the default is {int(LEASE.total_seconds())})."
        )
    return timedelta(seconds=seconds)


def build_catalogue(
    config: Config, added: Sequence[DocumentRecord] = (), embedder: Embedder | None = None
) -> Catalogue:
    """Every inquiry in the corpus folder (and those only ``ingest`` made); none loaded yet.
    ``embedder`` (one model for all) gives each inquiry's index its semantic half."""
    groups = group_by_inquiry(added, config.default_inquiry)
    inquiries = discover(config.corpus_dir, groups)
    counted = [replace(i, documents=i.documents + len(groups.get(i.name, ()))) for i in inquiries]
    loader = make_loader(config.cache_dir, groups, embedder)
    catalogue = Catalogue(counted, loader, config.default_inquiry)
    if "" in groups:  # added before there were inquiries, read without a database
        groups.setdefault(catalogue.default.name, []).extend(groups.pop(""))
    return catalogue


def build_services(
    config: Config,
    moderators: ModeratorCheck | None = None,
    clock: Clock | None = None,
    store: Store | None = None,
    added: Sequence[DocumentRecord] = (),
) -> Services:
    """Services answering from the default inquiry, the only one loaded at start."""
    embedder = load_embedder() if config.semantic else None
    catalogue = build_catalogue(config, added, embedder)
    first = catalogue.load_now(catalogue.default)
    logger.info(
        "serving %d inquiries from %s; %s (the default) has %d documents, %d passages",
        len(catalogue),
        config.corpus_dir,
        first.inquiry.name,
        len(first.corpus.documents),
        len(first.index.passages),
    )
    return Services(
        corpus=first.corpus,
        index=first.index,
        inquiries=catalogue,
        inquiry=first.inquiry,
        views=Views(),
        moderators=moderators or EveryoneModerates(),
        clock=clock or SystemClock(),
        store=store,
        bot_name=config.bot_name,
        default_timezone=configured_timezone(config.timezone),
    )


@asynccontextmanager
async def open_services(
    config: Config,
    moderators: ModeratorCheck | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Services]:
    """Services with the database open (documents added by ``ingest`` join the corpus) and
    the template sandbox ready (its worker processes start on the first render)."""
    store = await open_store(config.database)
    sandbox = TemplateSandbox()
    try:
        # Chats, digests and documents from before inquiries belong to the default one.
        default = build_catalogue(config, await store.list_documents()).default
        try:
            await store.adopt_unassigned(default.name)
        except Exception:  # a damaged table: each command that needs it says so its own way
            logger.warning(
                "could not give the rows from before inquiries to %s", default.name, exc_info=True
            )
        added = await store.list_documents()
        services = build_services(config, moderators, clock, store, added)
        services.sandbox = sandbox
        yield services
    finally:
        await sandbox.close()
        await store.close()


def digest_renderer(services: Services) -> RenderCustom | None:
    """How digests render a chat's own template, when the sandbox is there to run it
    (over the services' inquiry: ``InquiryRenderers`` makes one per inquiry)."""
    if services.sandbox is None:
        return None
    return make_render_custom(services.sandbox, current_contexts(services), services.clock)


def digest_scheduler(
    services: Services,
    store: Store,
    senders: Mapping[str, Sender],
    *,
    lease: timedelta = LEASE,
    concurrency: int = 8,
    owner: str | None = None,
    after_pass: AfterPass | None = None,
    on_record: Callable[[DeliveryRecord], None] | None = None,
) -> Scheduler:
    """The digest scheduler, built one way for ``serve`` and ``digests`` alike: the same
    digests (each from its subscription's inquiry, with each chat's own template) go to the
    senders given."""
    return Scheduler(
        store,
        senders,
        digest_maker(services, store),
        services.clock,
        concurrency=concurrency,
        owner=owner,
        lease=lease,
        after_pass=after_pass,
        on_record=on_record,
    )


def platform_moderators() -> PlatformModerators:
    """Moderators as ``serve`` and ``digests`` check them: each platform adapter registers its
    own check; console users moderate their own chats."""
    return PlatformModerators({"console": EveryoneModerates()})


def build_bot(services: Services) -> BriefingBot:
    renderers = InquiryRenderers(digest_renderer)
    table = build_table(inquiry_commands(), subscription_commands(renderers), template_commands())
    return BriefingBot(services, table)


def digest_maker(services: Services, store: Store) -> InquiryDigests:
    """What the scheduler builds digests with: each from its subscription's inquiry."""
    return InquiryDigests(services, store, InquiryRenderers(digest_renderer))
