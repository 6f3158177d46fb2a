"""The PostgreSQL store's moderators' templates and ingested documents."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from adapters.storage.postgres.connection import PostgresBase
from adapters.storage.postgres.rows import _count, _document, _template
from bot.store import DocumentRecord, TemplateVersion, utc


class TemplatesAndDocuments(PostgresBase):
    """The store's moderators' templates and ingested documents: a part of
    :class:`PostgresStore`."""

    # -- moderators' templates

    async def save_template(
        self, chat_key: str, name: str, source: str, author: str, at: datetime
    ) -> int:
        async with self._write() as db:
            # Two processes saving the same template at once take turns for the next number.
            await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{chat_key}\n{name}")
            version = int(
                await db.fetchval(
                    """SELECT COALESCE(MAX(version), 0) + 1 FROM templates
                       WHERE chat_key = $1 AND name = $2""",
                    chat_key,
                    name,
                )
            )
            await db.execute(
                """INSERT INTO templates (chat_key, name, version, source, author, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6)""",
                chat_key,
                name,
                version,
                source,
                author,
                utc(at),
            )
        return version

    async def get_template(
        self, chat_key: str, name: str, version: int | None = None
    ) -> TemplateVersion | None:
        row = await self._row(
            """SELECT * FROM templates WHERE chat_key = $1 AND name = $2
                 AND ($3::integer IS NULL OR version = $3)
               ORDER BY version DESC LIMIT 1""",
            chat_key,
            name,
            version,
        )
        return _template(row) if row else None

    async def list_templates(self, chat_key: str) -> list[TemplateVersion]:
        rows = await self._rows(
            """SELECT DISTINCT ON (name) * FROM templates WHERE chat_key = $1
               ORDER BY name, version DESC""",
            chat_key,
        )
        return [_template(row) for row in rows]

    async def template_history(self, chat_key: str, name: str) -> list[TemplateVersion]:
        rows = await self._rows(
            "SELECT * FROM templates WHERE chat_key = $1 AND name = $2 ORDER BY version",
            chat_key,
            name,
        )
        return [_template(row) for row in rows]

    async def remove_template(self, chat_key: str, name: str) -> bool:
        async with self._write() as db:
            status = await db.execute(
                "DELETE FROM templates WHERE chat_key = $1 AND name = $2", chat_key, name
            )
            await db.execute(
                "DELETE FROM digest_templates WHERE chat_key = $1 AND name = $2", chat_key, name
            )
            return _count(status) > 0

    async def set_digest_template(self, chat_key: str, name: str | None) -> None:
        if name is None:
            await self._pool.execute("DELETE FROM digest_templates WHERE chat_key = $1", chat_key)
            return
        await self._pool.execute(
            """INSERT INTO digest_templates (chat_key, name) VALUES ($1, $2)
               ON CONFLICT (chat_key) DO UPDATE SET name = excluded.name""",
            chat_key,
            name,
        )

    async def get_digest_template(self, chat_key: str) -> str | None:
        name = await self._pool.fetchval(
            "SELECT name FROM digest_templates WHERE chat_key = $1", chat_key
        )
        return None if name is None else str(name)

    async def digest_templates(self, chat_keys: Collection[str]) -> dict[str, TemplateVersion]:
        rows = await self._rows(
            """SELECT DISTINCT ON (t.chat_key) t.* FROM digest_templates d
               JOIN templates t ON t.chat_key = d.chat_key AND t.name = d.name
               WHERE d.chat_key = ANY($1::text[])
               ORDER BY t.chat_key, t.version DESC""",
            list(chat_keys),
        )
        return {row["chat_key"]: _template(row) for row in rows}

    # -- documents

    async def add_document(self, record: DocumentRecord) -> bool:
        status = await self._pool.execute(
            """INSERT INTO documents
                   (id, title, outlet, date, url, kind, added_at, text_hash, text, inquiry)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
               ON CONFLICT DO NOTHING""",
            record.id,
            record.title,
            record.outlet,
            record.date,
            record.url,
            record.kind,
            utc(record.added_at),
            record.text_hash,
            record.text,
            record.inquiry,
        )
        return _count(status) > 0

    async def find_document_by_hash(self, text_hash: str) -> DocumentRecord | None:
        row = await self._row("SELECT * FROM documents WHERE text_hash = $1", text_hash)
        return _document(row) if row else None

    async def list_documents(self) -> list[DocumentRecord]:
        rows = await self._rows("SELECT * FROM documents ORDER BY added_at, id")
        return [_document(row) for row in rows]

    async def documents_added_between(
        self, after: datetime | None, until: datetime
    ) -> list[DocumentRecord]:
        rows = await self._rows(
            """SELECT * FROM documents
               WHERE ($1::timestamptz IS NULL OR added_at > $1) AND added_at <= $2
               ORDER BY added_at, id""",
            None if after is None else utc(after),
            utc(until),
        )
        return [_document(row) for row in rows]
