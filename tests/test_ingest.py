"""Adding documents and running digest passes from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.cli_store import ProgressBar, register
from adapters.storage.sqlite import SqliteStore
from bot.digests.schedule import daily
from bot.documents import default_corpus_dir
from bot.documents.ingest import MetaOverrides, ingest, stored_documents, with_stored
from bot.errors import UserInputError
from bot.messages import ChatRef
from bot.services import Services
from tests.pdf_maker import Block, PdfReport

NOW = datetime(2024, 5, 14, 6, 0, tzinfo=UTC)
ARTICLE = """<p>The Met said on Monday that every officer would be <i>vetted</i> again.</p>
<p>Officers who fail vetting checks will be dismissed, the force said.</p>
<p>Campaigners welcomed the move.</p>
"""


@dataclasses.dataclass
class FixedClock:
    moment: datetime = NOW

    def now(self) -> datetime:
        return self.moment


@pytest.fixture
def cli(services: Services, tmp_path: Path) -> argparse.ArgumentParser:
    """A parser like inquiry-bot's, with these commands registered on a real database."""
    clock = FixedClock()

    @asynccontextmanager
    async def build(args: argparse.Namespace) -> AsyncIterator[Services]:
        async with await SqliteStore.open(args.db) as store:
            yield dataclasses.replace(services, store=store, clock=clock)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=str(tmp_path / "bot.db"))
    parser = argparse.ArgumentParser(prog="inquiry-bot")
    register(parser.add_subparsers(dest="command", required=True), build, parents=[common])
    parser.set_defaults(clock=clock)
    return parser


async def run(parser: argparse.ArgumentParser, *argv: str) -> int:
    args = parser.parse_args(argv)
    status: int = await args.func(args)
    return status


def write(path: Path, text: str, meta: dict[str, str] | None = None) -> Path:
    path.write_text(text, encoding="utf-8")
    if meta is not None:
        path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")
    return path


async def test_ingest_a_file_with_its_metadata(
    cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = write(tmp_path / "met-revetting.txt", ARTICLE)
    status = await run(
        cli,
        "ingest",
        str(doc),
        "--title",
        "Met to re-vet every officer",
        "--outlet",
        "BBC News",
        "--date",
        "2024-05-13",
        "--url",
        "https://www.bbc.co.uk/news/x",
    )
    assert status == 0
    assert "Added 1 document." in capsys.readouterr().out
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        [record] = await store.list_documents()
    assert (record.id, record.title, record.outlet, record.date, record.url) == (
        "met-revetting",
        "Met to re-vet every officer",
        "BBC News",
        "2024-05-13",
        "https://www.bbc.co.uk/news/x",
    )
    assert "<p>" not in record.text and "vetted again" in record.text  # cleaned
    assert record.added_at == NOW


async def test_the_same_text_twice_is_refused(
    cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "b.txt", ARTICLE.replace("\n", "\n\n  "))  # white space differs only
    assert await run(cli, "ingest", str(tmp_path / "a.txt")) == 0
    assert await run(cli, "ingest", str(tmp_path / "b.txt")) == 1
    out = capsys.readouterr().out
    assert "Refused 1:" in out and "the same text is already here, as 'a'" in out


async def test_a_built_in_document_is_refused_too(
    cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = default_corpus_dir() / "itv-news-scathing-casey-report.txt"
    copy = write(tmp_path / "itv-copy.txt", seed.read_text(encoding="utf-8"))
    assert await run(cli, "ingest", str(copy)) == 1
    assert "as 'itv-news-scathing-casey-report'" in capsys.readouterr().out


async def test_a_folder_with_sidecars_and_progress(services: Services, tmp_path: Path) -> None:
    folder = tmp_path / "new"
    folder.mkdir()
    write(folder / "one.txt", ARTICLE, {"title": "One", "outlet": "Outlet A"})
    write(folder / "two.md", "# Stop and search\n\nStop and search rates fell in London.\n")
    write(folder / "three.txt", ARTICLE)  # the same as one.txt
    (folder / "notes.csv").write_text("a,b\n1,2\n")  # not a document: skipped
    seen: list[tuple[int, int, str]] = []
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(
            folder,
            store,
            services.corpus,
            NOW,
            services.index,
            progress=lambda done, total, path: seen.append((done, total, path.name)),
        )
        docs = await stored_documents(store)
    assert seen == [(1, 3, "one.txt"), (2, 3, "three.txt"), (3, 3, "two.md")]
    assert [r.id for r in report.added] == ["one", "two"]
    assert report.added[0].outlet == "Outlet A"
    assert [r.path.name for r in report.refused] == ["three.txt"]
    assert report.index is not None
    assert report.index.search("stop and search rates fell", 3).hits[0].passage.document_id == "two"
    corpus = with_stored(services.corpus, docs)
    assert {"one", "two"} <= {d.id for d in corpus.documents}
    assert len(corpus.documents) == len(services.corpus.documents) + 2


async def test_an_id_already_taken_gets_a_new_one(services: Services, tmp_path: Path) -> None:
    clash = write(tmp_path / "itv-news-scathing-casey-report.txt", ARTICLE)
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(clash, store, services.corpus, NOW)
    assert [r.id for r in report.added] == ["itv-news-scathing-casey-report-2"]


@pytest.mark.parametrize(
    ("overrides", "answer"),
    [
        (MetaOverrides(date="21/03/2023"), "--date must be an ISO date"),
        (MetaOverrides(url="javascript:alert(1)"), "--url must start with http"),
        (MetaOverrides(title="One title"), "--title names one document"),
    ],
)
async def test_bad_options_are_explained(
    services: Services, tmp_path: Path, overrides: MetaOverrides, answer: str
) -> None:
    write(tmp_path / "a.txt", ARTICLE)
    write(tmp_path / "b.txt", "Another text entirely.")
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        with pytest.raises(UserInputError, match=answer):
            await ingest(tmp_path, store, services.corpus, NOW, overrides=overrides)
        assert await store.list_documents() == []


async def test_a_missing_path_is_explained(services: Services, tmp_path: Path) -> None:
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        with pytest.raises(UserInputError, match="neither a file nor a folder"):
            await ingest(tmp_path / "nope.txt", store, services.corpus, NOW)


async def test_a_file_of_control_bytes_is_refused(services: Services, tmp_path: Path) -> None:
    (tmp_path / "noise.txt").write_bytes(b"\x00\x01\x02\x1b\x7f" * 200)
    (tmp_path / "blank.txt").write_bytes(b" " * 40 + b"\x00\n\t" + b"\n" * 10)
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(tmp_path, store, services.corpus, NOW)
        assert await store.list_documents() == []
    reasons = {r.path.name: r.reason for r in report.refused}
    assert reasons == {
        "blank.txt": "no text: it holds no words",
        "noise.txt": "binary data, not text (it is mostly control characters)",
    }


async def test_a_document_too_big_is_refused_before_it_is_read(
    services: Services, tmp_path: Path
) -> None:
    big = tmp_path / "everything.txt"
    big.write_bytes(b"The inquiry heard evidence. " * 1_000_000)  # 28 MB
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(big, store, services.corpus, NOW)
    assert [r.reason for r in report.refused] == [
        "28.0 MB is more than the 24.0 MB a document may be; split it into parts "
        "(one file per volume or chapter)"
    ]


async def test_one_long_pdf_reports_its_pages(services: Services, tmp_path: Path) -> None:
    blocks: list[Block] = []
    for n, witness in enumerate(("harbourmaster", "pilot", "council", "coastguard"), 1):
        blocks += [Block(f"Part {n}", 0), Block(f"The harbour inquiry heard the {witness}.")]
    PdfReport(blocks=blocks, page_breaks=(2, 4, 6)).write(tmp_path / "harbour.pdf")
    seen: list[tuple[int, int, str]] = []
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(
            tmp_path / "harbour.pdf",
            store,
            services.corpus,
            NOW,
            progress=lambda done, total, path: seen.append((done, total, path.name)),
        )
    assert [r.id for r in report.added] == ["harbour"]
    assert seen == [(n, 4, "harbour.pdf") for n in range(1, 5)]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_on_a_terminal_only() -> None:
    terminal, pipe = Terminal(), io.StringIO()
    for out in (terminal, pipe):
        bar = ProgressBar(out, width=4)
        for page in (1, 2, 3, 4):
            bar(page, 4, Path("harbour.pdf"))
    frames = terminal.getvalue().split("\r")[1:]
    assert [frame[:11] for frame in frames] == [
        "[#---] 1/4 ",
        "[##--] 2/4 ",
        "[###-] 3/4 ",
        "[####] 4/4 ",
    ]
    assert "harbour.pdf" in frames[0] and frames[-1].endswith("\n")
    assert pipe.getvalue() == ""


async def test_a_restart_finds_an_added_report_as_it_was_read(
    services: Services, tmp_path: Path
) -> None:
    """The outline of an added PDF still gives the contents after a restart."""
    blocks = [Block("Findings", 0), Block("1. The alarm failed to sound in the hall."),
              Block("2. The doors were held open."), Block("Recommendations", 0),
              Block("1. Landlords should test alarms monthly.")]
    write(tmp_path / "eastgate.json", "", {"kind": "report"})
    PdfReport(blocks=blocks).write(tmp_path / "eastgate.pdf")
    cache = tmp_path / "cache"
    async with await SqliteStore.open(tmp_path / "bot.db") as store:
        report = await ingest(tmp_path / "eastgate.pdf", store, services.corpus, NOW,
                              cache_dir=cache)
        assert [r.id for r in report.added] == ["eastgate"]
        (restarted,) = await stored_documents(store, cache)
        (without_cache,) = await stored_documents(store)
    assert restarted == report.documents[0]
    assert [s.title for s in restarted.sections] == [
        "Findings",
        "Finding 1: The alarm failed to sound in the hall",
        "Finding 2: The doors were held open",
        "Recommendations",
        "Recommendation 1",
    ]
    assert without_cache.text == restarted.text


# -- digests --at ---------------------------------------------------------------------------


async def subscribe_console(db: Path, *chat_ids: str, alert: str | None = None) -> None:
    async with await SqliteStore.open(db) as store:
        for chat_id in chat_ids:
            ref = ChatRef("console", chat_id)
            await store.subscribe(
                ref, daily(8, 0), "Europe/London", datetime(2024, 5, 1, tzinfo=UTC)
            )
            if alert:
                await store.add_alert(ref, alert, "Europe/London", NOW)


async def test_digests_json_one_line_per_delivery_and_never_twice(
    cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await subscribe_console(tmp_path / "bot.db", "alice", "bob")
    assert await run(cli, "digests", "--at", "2024-05-14T08:00:00+01:00", "--json") == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["chat"], d["platform"], d["scheduled"], d["status"]) for d in lines] == [
        ("alice", "console", "2024-05-14T07:00:00+00:00", "delivered"),
        ("bob", "console", "2024-05-14T07:00:00+00:00", "delivered"),
    ]
    assert set(lines[0]) == {"chat", "platform", "scheduled", "status", "reply"}
    assert "Finding 1 of 8" in lines[0]["reply"]
    assert await run(cli, "digests", "--at", "2024-05-14T07:00:30Z", "--json") == 0
    assert capsys.readouterr().out == ""


async def test_digests_print_console_chats_digests(
    cli: argparse.ArgumentParser, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await subscribe_console(tmp_path / "bot.db", "alice", alert="vetting")
    write(tmp_path / "met.txt", ARTICLE)
    await run(cli, "ingest", str(tmp_path / "met.txt"), "--outlet", "BBC News")
    capsys.readouterr()
    assert await run(cli, "digests", "--at", "2024-05-14T07:00Z") == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("=== Digest for console chat alice ===")
    assert "New since your last briefing" in captured.out and "BBC News" in captured.out
    assert "Officers who fail vetting checks will be dismissed" in captured.out
    assert "1 digest: 1 delivered" in captured.err


def test_at_needs_an_offset(
    cli: argparse.ArgumentParser, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.parse_args(["digests", "--at", "2024-05-14T08:00"])
    assert "has no UTC offset" in capsys.readouterr().err
