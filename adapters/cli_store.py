"""The CLI's database commands: ``inquiry-bot ingest`` and ``inquiry-bot digests``.

``adapters/cli.py`` calls :func:`register` with its subparsers and two functions:

    build(args) -> async context manager yielding Services   (with a store)
    wiring(args, services) -> async context manager yielding DeliveryWiring

so these commands get the same corpus, index, clock and database as the rest of the CLI, and
``digests`` the chat platforms' senders (those ``serve`` uses), all closed when the command
ends. Each subcommand sets ``args.func``, a coroutine function ``func(args) -> int`` (the
exit status) for ``main`` to run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

from adapters.app import Config, digest_scheduler, lease_from_env
from adapters.console_delivery import ConsoleSender
from bot.digests.scheduler import DeliveryRecord
from bot.documents.ingest import IngestReport, MetaOverrides, ingest
from bot.errors import BotError, UserInputError
from bot.inquiries.model import NAME_PATTERN, normalise_name
from bot.model import Corpus
from bot.ports import Sender
from bot.search import SearchIndex
from bot.services import Services
from bot.store import Store

BuildServices = Callable[[argparse.Namespace], AbstractAsyncContextManager[Services]]
Command = Callable[[argparse.Namespace], Awaitable[int]]


@dataclass(frozen=True)
class DeliveryWiring:
    """What ``digests`` needs besides the console: the other platforms' senders, and why
    each platform without one was skipped (said on stderr; a failure exits with 1)."""

    senders: Mapping[str, Sender] = field(default_factory=dict)
    skipped: Mapping[str, str] = field(default_factory=dict)  # no token set
    failed: Mapping[str, str] = field(default_factory=dict)  # could not sign in


Wiring = Callable[[argparse.Namespace, Services], AbstractAsyncContextManager[DeliveryWiring]]


@asynccontextmanager
async def console_only(
    args: argparse.Namespace, services: Services
) -> AsyncIterator[DeliveryWiring]:
    """No platform but the console (tests, and a CLI wired without platforms)."""
    yield DeliveryWiring()


def register(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    build: BuildServices,
    *,
    parents: Sequence[argparse.ArgumentParser] = (),
    wiring: Wiring | None = None,
) -> None:
    """Add ``ingest`` and ``digests``; ``parents`` carry the CLI's common options (--db...)."""
    add = subparsers.add_parser(
        "ingest",
        parents=list(parents),
        help="add a document, or a folder of them, to the bot's documents",
        description="Add a document (.txt, .md, .pdf, .html/.htm, .docx), or every one in a "
        "folder. Metadata comes from the options, else from a NAME.json sidecar, else from the "
        "document itself (a PDF's or page's title), else from the file name. The same text "
        "twice is refused.",
    )
    add.add_argument("path", type=Path, metavar="PATH", help="a document file or a folder")
    add.add_argument("--title", help="the document's title (one file only)")
    add.add_argument("--outlet", help="who published it, e.g. 'BBC News'")
    add.add_argument("--date", help="when, as an ISO date: 2023-03-21")
    add.add_argument("--url", help="where it was published (http or https)")
    add.add_argument(
        "--inquiry", metavar="NAME", help="the inquiry to add to (default: the default one)"
    )
    add.add_argument(
        "--new", action="store_true", help="make --inquiry NAME a new inquiry without asking"
    )
    add.set_defaults(func=_ingest_command(build))

    digests = subparsers.add_parser(
        "digests",
        parents=list(parents),
        help="run one digest pass, as if the clock read --at",
        description="Send every digest due at --at (default: now), for cron-style "
        "deployments. Console chats' digests are printed here.",
    )
    digests.add_argument(
        "--at",
        type=parse_at,
        metavar="ISO-TIME",
        help="the pass's time with its offset, e.g. 2024-05-14T08:00+01:00 (default: now)",
    )
    digests.add_argument("--json", action="store_true", help="one JSON object a line per delivery")
    digests.add_argument(
        "--concurrency", type=_positive, default=8, metavar="N", help="sends at once (8)"
    )
    digests.set_defaults(func=_digests_command(build, wiring or console_only))


def parse_at(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO time; use e.g. 2024-05-14T08:00+01:00"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} has no UTC offset; add one, e.g. {text}+00:00 or {text}Z"
        )
    return moment


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _require_store(services: Services) -> Store:
    if services.store is None:
        raise UserInputError("This command needs a database: give one with --db PATH.")
    return services.store


# -- ingest ------------------------------------------------------------------------------------


def _ingest_command(build: BuildServices) -> Command:
    async def run(args: argparse.Namespace) -> int:
        overrides = MetaOverrides(args.title, args.outlet, args.date, args.url)
        async with build(args) as services:
            store = _require_store(services)
            target = target_inquiry(services, args.inquiry, args.new, sys.stdin, sys.stderr)
            bar = ProgressBar(sys.stderr)
            report = await ingest(
                args.path,
                store,
                target.corpus,
                services.clock.now(),
                target.index,
                overrides,
                progress=bar,
                cache_dir=Config.from_env(no_cache=getattr(args, "no_cache", True)).cache_dir,
                inquiry=target.name,
            )
        print(report.summary())
        return exit_status(report)

    return run


@dataclass(frozen=True)
class IngestTarget:
    name: str
    corpus: Corpus
    index: SearchIndex | None


def target_inquiry(
    services: Services, wanted: str | None, new: bool, stdin: TextIO, err: TextIO
) -> IngestTarget:
    """The inquiry ``ingest`` adds to: an existing one, or a new one once confirmed."""
    catalogue = services.inquiries
    if catalogue is None:
        return IngestTarget("", services.corpus, services.index)
    if wanted is None:
        loaded = catalogue.load_now(catalogue.default)
        return IngestTarget(loaded.inquiry.name, loaded.corpus, loaded.index)
    name = normalise_name(wanted)
    found = catalogue.get(name)
    if found is not None:
        loaded = catalogue.load_now(found)
        return IngestTarget(found.name, loaded.corpus, loaded.index)
    if not NAME_PATTERN.match(name):
        raise UserInputError(
            f"{wanted!r} can't be an inquiry name: use 1–32 lower-case letters, digits, '-' or '_'."
        )
    if not new and not _confirmed(name, catalogue.names, stdin, err):
        close = catalogue.suggestions(wanted)
        hint = f" Did you mean {' or '.join(close)}?" if close else ""
        raise UserInputError(
            f"There is no inquiry {name!r} (there are: {', '.join(catalogue.names)}).{hint} "
            "To make a new inquiry with that name, add --new."
        )
    return IngestTarget(name, Corpus(documents=()), None)


def _confirmed(name: str, names: Sequence[str], stdin: TextIO, err: TextIO) -> bool:
    if not stdin.isatty():
        return False
    err.write(f"There is no inquiry {name!r} yet (there are: {', '.join(names)}). Make it? [y/N] ")
    err.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def exit_status(report: IngestReport) -> int:
    """0 if anything was added (or there was nothing to refuse), 1 if everything was refused."""
    return 1 if report.refused and not report.added else 0


class ProgressBar:
    """A one-line bar on a terminal (files of a folder, or pages of one long document);
    silent otherwise."""

    def __init__(self, out: TextIO, width: int = 30) -> None:
        self.out = out
        self.width = width

    def __call__(self, done: int, total: int, current: Path) -> None:
        if total < 2 or not self.out.isatty():
            return
        filled = self.width * done // total
        bar = "#" * filled + "-" * (self.width - filled)
        self.out.write(f"\r[{bar}] {done}/{total} {current.name[:40]:<40}")
        if done == total:
            self.out.write("\n")
        self.out.flush()


# -- digests -----------------------------------------------------------------------------------


def _digests_command(build: BuildServices, wiring: Wiring) -> Command:
    async def run(args: argparse.Namespace) -> int:
        async with build(args) as services, wiring(args, services) as platforms:
            store = _require_store(services)
            await report_skipped(platforms, store, sys.stderr)
            console = ConsoleSender(None if args.json else sys.stdout)
            senders: dict[str, Sender] = {**platforms.senders, console.platform: console}
            lines = JsonLines(sys.stdout) if args.json else None
            scheduler = digest_scheduler(
                services,
                store,
                senders,
                lease=lease_from_env(os.environ),
                concurrency=args.concurrency,
                on_record=lines,
            )
            records = await scheduler.run_once(args.at or services.clock.now())
        if not args.json:
            report_records(records, sys.stderr)
        return 1 if platforms.failed else 0

    return run


class JsonLines:
    """``digests --json``: each record is written and flushed the moment it is made, before
    its digest is marked delivered, so a pass killed at any point has printed every digest
    it marked (a console chat's digest is its JSON line)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def __call__(self, record: DeliveryRecord) -> None:
        try:
            self.out.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            self.out.flush()
        except OSError as err:
            # Not marked, so sent again (and printed) once its claim lapses; this pass stops.
            raise OutputClosed(
                f"Could not write to standard output ({err}); the digests not yet printed "
                "go out once their claim lapses (INQUIRY_BOT_LEASE_SECONDS)."
            ) from err


class OutputClosed(BotError):
    """Standard output went away in the middle of a pass."""


async def report_skipped(platforms: DeliveryWiring, store: Store, err: TextIO) -> None:
    """A line for each platform that has subscribed chats but no sender on this run, and
    why. Their due digests wait: a later run with the platform sends them, if it comes
    within 6 hours of their time."""
    for platform, reason in sorted({**platforms.skipped, **platforms.failed}.items()):
        chats = len(await store.active_subscriptions([platform]))
        if chats or platform in platforms.failed:
            waiting = "1 subscribed chat waits" if chats == 1 else f"{chats} subscribed chats wait"
            err.write(f"skipped {platform}: {reason} ({waiting} for a run that has it)\n")


def report_records(records: Sequence[DeliveryRecord], err: TextIO) -> None:
    for record in records:
        if record.platform != "console" or record.status != "delivered":
            reason = f" ({record.reason})" if record.reason else ""
            err.write(f"{record.status}: {record.platform}:{record.chat}{reason}\n")
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status] = counts.get(record.status, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    err.write(f"{len(records)} digest{'s' if len(records) != 1 else ''}: {summary or 'none due'}\n")
