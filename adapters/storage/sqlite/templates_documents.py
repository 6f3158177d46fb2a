"""The SQLite store's moderators' templates and ingested documents."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from adapters.storage.sqlite.connection import SqliteBase
from adapters.storage.sqlite.rows import _chunks, _document, _iso, _marks, _template
from bot.store import DocumentRecord, TemplateVersion


class TemplatesAndDocuments(SqliteBase):
    """The store's moderators' templates and ingested documents: a part of :class:`SqliteStore`."""

    # -- moderators' templates

    async def save_template(
        self, chat_key: str, name: str, source: str, author: str, at: datetime
    ) -> int:
        async with self._write() as db:
            async with db.execute(
                "SELECT COALESCE(MAX(version), 0) FROM templates WHERE chat_key = ? AND name = ?",
                (chat_key, name),
            ) as cursor:
                row = await cursor.fetchone()
            version = (int(row[0]) if row else 0) + 1
            await db.execute(
                """INSERT INTO templates (chat_key, name, version, source, author, created_at)
                   VALUES (?, ?, ?, ?, ?, ?)""",
                (chat_key, name, version, source, author, _iso(at)),
            )
        return version

    async def get_template(
        self, chat_key: str, name: str, version: int | None = None
    ) -> TemplateVersion | None:
        if version is None:
            row = await self._row(
                """SELECT * FROM templates WHERE chat_key = ? AND name = ?
                   ORDER BY version DESC LIMIT 1""",
                (chat_key, name),
            )
        else:
            row = await self._row(
                "SELECT * FROM templates WHERE chat_key = ? AND name = ? AND version = ?",
                (chat_key, name, version),
            )
        return _template(row) if row else None

    async def list_templates(self, chat_key: str) -> list[TemplateVersion]:
        rows = await self._rows(
            """SELECT t.* FROM templates t
               JOIN (SELECT name, MAX(version) AS version FROM templates
                     WHERE chat_key = ? GROUP BY name) latest
                 USING (name, version)
               WHERE t.chat_key = ? ORDER BY t.name""",
            (chat_key, chat_key),
        )
        return [_template(row) for row in rows]

    async def template_history(self, chat_key: str, name: str) -> list[TemplateVersion]:
        rows = await self._rows(
            "SELECT * FROM templates WHERE chat_key = ? AND name = ? ORDER BY version",
            (chat_key, name),
        )
        return [_template(row) for row in rows]

    async def remove_template(self, chat_key: str, name: str) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                "DELETE FROM templates WHERE chat_key = ? AND name = ?", (chat_key, name)
            )
            await db.execute(
                "DELETE FROM digest_templates WHERE chat_key = ? AND name = ?", (chat_key, name)
            )
            return cursor.rowcount > 0

    async def set_digest_template(self, chat_key: str, name: str | None) -> None:
        async with self._write() as db:
            if name is None:
                await db.execute("DELETE FROM digest_templates WHERE chat_key = ?", (chat_key,))
            else:
                await db.execute(
                    """INSERT INTO digest_templates (chat_key, name) VALUES (?, ?)
                       ON CONFLICT (chat_key) DO UPDATE SET name = excluded.name""",
                    (chat_key, name),
                )

    async def get_digest_template(self, chat_key: str) -> str | None:
        row = await self._row("SELECT name FROM digest_templates WHERE chat_key = ?", (chat_key,))
        return str(row["name"]) if row else None

    async def digest_templates(self, chat_keys: Collection[str]) -> dict[str, TemplateVersion]:
        found: dict[str, TemplateVersion] = {}
        for chunk in _chunks(list(chat_keys)):
            rows = await self._rows(
                f"""SELECT t.* FROM digest_templates d
                    JOIN templates t ON t.chat_key = d.chat_key AND t.name = d.name
                    WHERE d.chat_key IN ({_marks(len(chunk))})
                    ORDER BY t.version""",
                chunk,
            )
            for row in rows:  # by version, so the latest wins
                found[row["chat_key"]] = _template(row)
        return found

    # -- documents

    async def add_document(self, record: DocumentRecord) -> bool:
        async with self._write() as db:
            cursor = await db.execute(
                """INSERT INTO documents
                       (id, title, outlet, date, url, kind, added_at, text_hash, text,
                        inquiry)
                   VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                   ON CONFLICT DO NOTHING""",
                (
                    record.id,
                    record.title,
                    record.outlet,
                    record.date,
                    record.url,
                    record.kind,
                    _iso(record.added_at),
                    record.text_hash,
                    record.text,
                    record.inquiry,
                ),
            )
            return cursor.rowcount > 0

    async def find_document_by_hash(self, text_hash: str) -> DocumentRecord | None:
        row = await self._row("SELECT * FROM documents WHERE text_hash = ?", (text_hash,))
        return _document(row) if row else None

    async def list_documents(self) -> list[DocumentRecord]:
        rows = await self._rows("SELECT * FROM documents ORDER BY added_at, id")
        return [_document(row) for row in rows]

    async def documents_added_between(
        self, after: datetime | None, until: datetime
    ) -> list[DocumentRecord]:
        rows = await self._rows(
            """SELECT * FROM documents WHERE added_at > ? AND added_at <= ?
               ORDER BY added_at, id""",
            ("" if after is None else _iso(after), _iso(until)),
        )
        return [_document(row) for row in rows]
