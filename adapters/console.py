"""The console chat: the core in a terminal, or driven line by line by a script."""

from __future__ import annotations

import asyncio
import json
from typing import TextIO

from bot.core import BriefingBot
from bot.messages import ChatRef, IncomingMessage, Reply, SenderRef

PROMPT = "you> "


def render(reply: Reply) -> str:
    """Plain text, with each button shown as the command it stands for."""
    text = reply.plain
    buttons = [b for row in reply.buttons for b in row]
    if buttons:
        text += "\n" + "  ".join(f"[{b.label}: {b.payload}]" for b in buttons)
    return text


def as_json(message: str, reply: Reply | None) -> str:
    payload = {
        "message": message,
        "reply": reply.plain if reply else "",
        "answered": reply.answered if reply else True,
        "items": [
            {"kind": i.kind, "number": i.number, "title": i.title, "text": i.text}
            for i in (reply.items if reply else ())
        ],
        "results": [
            {
                "document": r.document,
                "source": r.source,
                "text": r.text,
                "score": r.score,
                "also_in": list(r.also_in),
            }
            for r in (reply.results if reply else ())
        ],
    }
    return json.dumps(payload, ensure_ascii=False)


class ConsoleChat:
    """One console chat: messages in, replies out, as text or as JSON lines."""

    def __init__(self, bot: BriefingBot, chat_id: str = "console", json_mode: bool = False):
        self.bot = bot
        self.chat = ChatRef("console", chat_id)
        self.sender = SenderRef("console-user", "you")
        self.json_mode = json_mode

    async def say(self, text: str) -> Reply | None:
        return await self.bot.handle(IncomingMessage(self.chat, self.sender, text))

    async def exchange(self, text: str) -> str:
        reply = await self.say(text)
        if self.json_mode:
            return as_json(text, reply)
        return render(reply) if reply else ""

    async def run_script(self, lines: TextIO, out: TextIO) -> None:
        """One message a line; a line ending in a backslash continues on the next."""
        pending: list[str] = []
        for raw in lines:
            line = raw.rstrip("\n")
            if line.endswith("\\"):
                pending.append(line[:-1])
                continue
            message = "\n".join([*pending, line])
            pending = []
            if not message.strip() and not self.json_mode:
                continue
            await self._answer(message, out, separator=not self.json_mode)
        if pending:
            await self._answer("\n".join(pending), out, separator=not self.json_mode)

    async def run_interactive(self, stdin: TextIO, out: TextIO) -> None:
        loop = asyncio.get_running_loop()
        out.write(await self.exchange("/start") + "\n\n")
        while True:
            out.write(PROMPT)
            out.flush()
            line = await loop.run_in_executor(None, stdin.readline)
            if not line:
                out.write("\n")
                return
            if line.strip().lower() in {"/quit", "/exit"}:
                return
            if line.strip():
                await self._answer(line.rstrip("\n"), out, separator=True)

    async def _answer(self, message: str, out: TextIO, separator: bool) -> None:
        text = await self.exchange(message)
        out.write(text + ("\n\n" if separator else "\n"))
        out.flush()
