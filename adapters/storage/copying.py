"""``inquiry-bot db copy``: every row of one database into another, empty one.

For moving from the SQLite file to PostgreSQL (or back): chats, subscriptions, alerts,
template versions, documents and the outbox keep their ids, so digests already planned or
sent are neither lost nor sent again. A target with anything in it is refused; the counts
of every table are compared after the copy. Stop every ``serve`` and cron job first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from adapters.storage.common import TABLES
from adapters.storage.postgres import PostgresStore
from adapters.storage.sqlite import SqliteStore
from adapters.storage.urls import describe, open_store
from bot.errors import UserInputError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CopyReport:
    source: dict[str, int]  # rows per table
    target: dict[str, int]

    def lines(self) -> list[str]:
        return [
            f"{table}: {self.source[table]:,} copied, {self.target[table]:,} in the target"
            for table in TABLES
        ]


async def copy_database(source: str | Path, target: str | Path) -> CopyReport:
    if describe(source) == describe(target):
        raise UserInputError("--from and --to name the same database; name two.")
    src = await open_store(source)
    try:
        dst = await open_store(target)
        try:
            return await _copy(src, dst, describe(target))
        finally:
            await dst.close()
    finally:
        await src.close()


async def _copy(
    src: SqliteStore | PostgresStore, dst: SqliteStore | PostgresStore, where: str
) -> CopyReport:
    present = {t: n for t, n in (await dst.table_counts()).items() if n}
    if present:
        held = ", ".join(f"{n:,} {t}" for t, n in present.items())
        raise UserInputError(
            f"The target {where} is not empty ({held}). Copy into a new, empty database."
        )
    for table in TABLES:
        rows = await src.export_table(table)
        await dst.import_table(table, rows)
        log.info("copied %d rows of %s", len(rows), table)
    report = CopyReport(await src.table_counts(), await dst.table_counts())
    if report.source != report.target:
        raise UserInputError(
            "The copy's counts do not match the source's (was something writing to it?):\n"
            + "\n".join(report.lines())
        )
    return report
