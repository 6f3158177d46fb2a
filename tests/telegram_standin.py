"""A stand-in for the Telegram Bot API, for tests and the benchmark; it never leaves the machine.

:class:`FakeBotAPI` answers the methods the adapter uses with JSON shaped like Telegram's,
records every call, and can be told to fail the next call to a method. It is reached either
in-process through :class:`RecordingRequest` (python-telegram-bot's request layer, replaced)
or over real HTTP on 127.0.0.1 through :class:`StandinServer` (a small asyncio HTTP/1.1
server), which python-telegram-bot's own HTTPXRequest talks to via ``base_url``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import sys
from collections import Counter, defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from telegram.request import BaseRequest, RequestData

TOKEN = "123456789:TEST-token_for-the-standin-0123456789ab"
BOT_ID = 123456789
BOT_USERNAME = "InquiryTestBot"
BOT_USER = {"id": BOT_ID, "is_bot": True, "first_name": "Inquiry", "username": BOT_USERNAME}
_JSON_PARAMS = {
    "reply_markup",
    "reply_parameters",
    "link_preview_options",
    "commands",
    "scope",
    "allowed_updates",
}
_ADMIN_RIGHTS = (
    "can_be_edited can_manage_chat can_delete_messages can_manage_video_chats "
    "can_restrict_members can_promote_members can_change_info can_invite_users "
    "can_post_stories can_edit_stories can_delete_stories"
).split()


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Failure:
    """A canned error answer: an HTTP status, Telegram's description, optional parameters."""

    status: int
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


class FakeBotAPI:
    """Telegram as far as the adapter can tell: canned answers, recorded calls, failures on cue."""

    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.counts: Counter[str] = Counter()
        self.unexpected: list[str] = []
        self.members: dict[tuple[str, str], str] = {}
        self._failures: dict[str, deque[Failure | BaseException]] = defaultdict(deque)
        self._message_ids = itertools.count(1000)
        self._updates: deque[dict[str, Any]] = deque()
        self._update_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._watchers: list[tuple[Callable[[], bool], asyncio.Event]] = []
        self._handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "getMe": lambda p: (
                BOT_USER | {"can_join_groups": True, "can_read_all_group_messages": False}
            ),
            "setMyCommands": lambda p: True,
            "deleteWebhook": lambda p: True,
            "setWebhook": lambda p: True,
            "sendMessage": self._message,
            "editMessageText": self._message,
            "answerCallbackQuery": lambda p: True,
            "getChatMember": self._member,
        }

    # What tests use -------------------------------------------------------------------

    def fail_next(self, method: str, failure: Failure | BaseException, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` fail this way (an exception: the network)."""
        self._failures[method].extend([failure] * times)

    def set_member(self, chat_id: int | str, user_id: int | str, status: str) -> None:
        self.members[(str(chat_id), str(user_id))] = status

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def texts(self, chat_id: int | str | None = None) -> list[str]:
        """The text of every message sent (and edited), in order; optionally to one chat."""
        return [
            str(c.params["text"])
            for c in self.calls
            if c.method in ("sendMessage", "editMessageText")
            and (chat_id is None or str(c.params["chat_id"]) == str(chat_id))
        ]

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for getUpdates; its update_id is assigned here and returned."""
        update_id = next(self._update_ids)
        self._updates.append({**update, "update_id": update_id})
        self._new_update.set()
        return update_id

    async def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (on an event, not a sleep loop) until a call makes ``condition`` true."""
        if condition():
            return
        event = asyncio.Event()
        watcher = (condition, event)
        self._watchers.append(watcher)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        finally:
            self._watchers.remove(watcher)

    # What the transports use ----------------------------------------------------------

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.calls.append(Call(method, params))
        self.counts[method] += 1
        try:
            failures = self._failures.get(method)
            if failures:
                failure = failures.popleft()
                if isinstance(failure, BaseException):
                    raise failure
                return failure.status, failure.body()
            handler = self._handlers.get(method)
            if handler is None:
                self.unexpected.append(method)
                return 404, Failure(404, "Not Found: method not found").body()
            return 200, {"ok": True, "result": handler(params)}
        finally:
            self._notify()

    async def get_updates(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Long polling: confirmed updates are dropped; with none waiting, wait up to timeout."""
        self.calls.append(Call("getUpdates", params))
        self.counts["getUpdates"] += 1
        failures = self._failures.get("getUpdates")
        if failures:  # e.g. 409 Conflict: another process is polling
            failure = failures.popleft()
            self._notify()
            if isinstance(failure, BaseException):
                raise failure
            return failure.status, failure.body()
        offset = int(params.get("offset") or 0)
        while self._updates and self._updates[0]["update_id"] < offset:
            self._updates.popleft()
        if not self._updates and float(params.get("timeout") or 0) > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), float(params["timeout"]))
        limit = int(params.get("limit") or 100)
        batch = list(itertools.islice(self._updates, limit))
        self._notify()
        return 200, {"ok": True, "result": batch}

    def _notify(self) -> None:
        for condition, event in self._watchers:
            if condition():
                event.set()

    def _message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        kind = (
            "private"
            if chat_id > 0
            else "supergroup"
            if str(chat_id).startswith("-100")
            else "group"
        )
        message_id = int(params.get("message_id") or next(self._message_ids))
        return {
            "message_id": message_id,
            "date": 1_700_000_000,
            "chat": {"id": chat_id, "type": kind, "title": "chat"},
            "from": BOT_USER,
            "text": str(params["text"]),
        }

    def _member(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = str(params["user_id"])
        status = self.members.get((str(params["chat_id"]), user_id), "member")
        member: dict[str, Any] = {
            "status": status,
            "user": {"id": int(user_id), "is_bot": False, "first_name": "Member"},
        }
        if status == "creator":
            member["is_anonymous"] = False
        if status == "administrator":
            member.update({right: right == "can_manage_chat" for right in _ADMIN_RIGHTS})
            member["is_anonymous"] = False
        return member


def _method_of(url: str, token: str) -> str | None:
    """The API method named by a request path ``.../bot<token>/<method>``; None if not ours."""
    path = urlsplit(url).path
    prefix, _, method = path.rpartition("/")
    return method if prefix.endswith(f"bot{token}") else None


class RecordingRequest(BaseRequest):
    """python-telegram-bot's request layer, answering from a FakeBotAPI; no sockets at all."""

    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.open = 0  # initialize() calls not yet matched by shutdown()

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        self.open += 1

    async def shutdown(self) -> None:
        self.open -= 1

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = _method_of(url, self.api.token)
        if api_method is None:
            self.api.unexpected.append(url.replace(self.api.token, "<token>"))
            raise AssertionError("request to a URL that is not the Bot API's")
        params = dict(request_data.parameters) if request_data else {}
        if api_method == "getUpdates":
            status, body = await self.api.get_updates(params)
        else:
            status, body = self.api.handle(api_method, params)
        return status, json.dumps(body).encode()


class StandinServer:
    """The FakeBotAPI over HTTP/1.1 (keep-alive) on 127.0.0.1, for the real HTTP stack."""

    def __init__(self, api: FakeBotAPI, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        self.host = host
        self.port = port  # 0: any free port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        port = self._server.sockets[0].getsockname()[1]
        return f"http://{self.host}:{port}/bot"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        return self.base_url

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> StandinServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._exchange(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away, e.g. polling stopped mid-request
        except asyncio.CancelledError:
            # stop() cancels open connections (a long poll may be waiting); asyncio's stream
            # server would log a cancelled handler as an error, and this is the normal end.
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        request_line = await reader.readline()
        if not request_line.strip():
            return False
        _, target, _ = request_line.decode("latin-1").split(" ", 2)
        headers = await _read_headers(reader)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        status, payload = await self._answer(target, headers, body)
        data = json.dumps(payload).encode()
        writer.write(
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            "Connection: keep-alive\r\n\r\n".encode()
            + data
        )
        await writer.drain()
        return True

    async def _answer(
        self, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        method = _method_of(target, self.api.token)
        if method is None:
            self.api.unexpected.append(target.replace(self.api.token, "<token>"))
            return 401, Failure(401, "Unauthorized").body()
        params = _parse_params(headers.get("content-type", ""), body)
        if method == "getUpdates":
            return await self.api.get_updates(params)
        return self.api.handle(method, params)


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = (await reader.readline()).decode("latin-1").strip()
        if not line:
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()


def _parse_params(content_type: str, body: bytes) -> dict[str, Any]:
    if not body:
        return {}
    if content_type.startswith("application/json"):
        parsed: dict[str, Any] = json.loads(body)
        return parsed
    params: dict[str, Any] = dict(parse_qsl(body.decode(), keep_blank_values=True))
    for name in _JSON_PARAMS & params.keys():
        params[name] = json.loads(params[name])
    return params


# Updates as Telegram sends them ------------------------------------------------------

ADA = {"id": 42, "is_bot": False, "first_name": "Ada", "last_name": "Reader"}
BEN = {"id": 43, "is_bot": False, "first_name": "Ben"}
ANONYMOUS_ADMIN_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
PRIVATE = {"id": 42, "type": "private", "first_name": "Ada"}
PRIVATE_BEN = {"id": 43, "type": "private", "first_name": "Ben"}
GROUP = {"id": -4001, "type": "group", "title": "Casey readers"}
SUPERGROUP_ID = -1004001

_ids = itertools.count(1)


def next_id() -> int:
    """A fresh update, message or query id (unique within the test run)."""
    return next(_ids)


def text_message(
    text: str,
    chat: dict[str, Any] = PRIVATE,
    sender: dict[str, Any] | None = ADA,
    **extra: Any,
) -> dict[str, Any]:
    message: dict[str, Any] = {
        "message_id": next_id(),
        "date": 1_700_000_000,
        "chat": chat,
        "text": text,
        **extra,
    }
    if sender is not None:
        message["from"] = sender
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": next_id(), "message": message}


def button_press(
    data: str, message: dict[str, Any], sender: dict[str, Any] = ADA
) -> dict[str, Any]:
    return {
        "update_id": next_id(),
        "callback_query": {
            "id": str(next_id()),
            "from": sender,
            "chat_instance": "ci-1",
            "data": data,
            "message": message,
        },
    }


def bot_message(chat: dict[str, Any] = PRIVATE, text: str = "An earlier answer") -> dict[str, Any]:
    return {
        "message_id": next_id(),
        "date": 1_700_000_000,
        "chat": chat,
        "from": BOT_USER,
        "text": text,
    }


# Run as a separate process (for the benchmark) --------------------------------------------


async def _serve_updates(path: str, expect: int) -> None:
    """Serve updates from a JSON file: print READY <base_url>; on "go", release them; print
    DONE when ``expect`` messages have been sent; stop on "stop" or end of input."""
    loop = asyncio.get_running_loop()
    updates = json.loads(Path(path).read_text())
    api = FakeBotAPI()
    async with StandinServer(api) as server:
        print("READY", server.base_url, flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        for update in updates:
            api.push_update(update)
        await api.wait_until(lambda: api.counts["sendMessage"] >= expect, timeout=3600)
        print("DONE", api.counts["sendMessage"], flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=_serve_updates.__doc__)
    parser.add_argument("--updates", required=True, help="a JSON file: a list of updates")
    parser.add_argument("--expect", type=int, required=True, help="sendMessage calls to wait for")
    arguments = parser.parse_args()
    asyncio.run(_serve_updates(arguments.updates, arguments.expect))
