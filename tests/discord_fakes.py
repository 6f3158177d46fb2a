"""Offline Discord: an HTTP recorder in place of the network, and gateway payload builders.

The recorder replaces discord.py's two ways out (``HTTPClient.request`` for the bot's REST
calls, ``AsyncWebhookAdapter.request`` for interaction responses and follow-ups), records
every route and payload, answers like Discord would, and fails the test on any route it
does not know. aiohttp itself is blocked too, so nothing can reach the network.

Events come in the way the gateway delivers them: dicts shaped like Discord's
MESSAGE_CREATE, INTERACTION_CREATE and GUILD_CREATE payloads, fed to the client's real
connection state (``client._connection.parse_*``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from adapters.discord.bot import DiscordAdapter
from adapters.discord.lib import discord

HTTPClient = discord.http.HTTPClient
Route = discord.http.Route
AsyncWebhookAdapter = discord.webhook.async_.AsyncWebhookAdapter

# The real ways out, kept before any test replaces them, for the gateway stand-in alone.
_REAL_SESSION = {name: getattr(aiohttp.ClientSession, name) for name in ("_request", "ws_connect")}
_REAL_WS_CONNECT = HTTPClient.ws_connect

APP_ID = 1100000000000000001  # a bot's user id is its application's id
GUILD_ID = 1100000000000000100
CHANNEL_ID = 1100000000000000200
OTHER_CHANNEL_ID = 1100000000000000201
DM_CHANNEL_ID = 1100000000000000300
OWNER_ID = 1100000000000000400
MODERATOR_ID = 1100000000000000401
MEMBER_ID = 1100000000000000402
MODERATOR_ROLE_ID = 1100000000000000500
MANAGE_GUILD = 1 << 5
SEND_MESSAGES = 1 << 11
VIEW_CHANNEL = 1 << 10
EVERYONE_PERMISSIONS = VIEW_CHANNEL | SEND_MESSAGES
TIMESTAMP = "2024-03-01T09:00:00+00:00"

# Tasks discord.py starts for events; ``settle`` waits for them (view timers excluded).
_EVENT_TASKS = ("discord.py: ", "CommandTree-invoker", "discord-ui-dynamic-item-")


@dataclass
class FakeResponse:
    """Enough of aiohttp's response for discord.py's exceptions."""

    status: int
    reason: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def http_error(status: int, code: int = 0, message: str = "") -> discord.HTTPException:
    """The exception discord.py raises for a Discord error response."""
    response = FakeResponse(status, {403: "Forbidden", 404: "Not Found"}.get(status, "Error"))
    body = {"code": code, "message": message}
    if status == 403:
        return discord.Forbidden(response, body)  # type: ignore[arg-type]
    if status == 404:
        return discord.NotFound(response, body)  # type: ignore[arg-type]
    if status >= 500:
        return discord.DiscordServerError(response, body)  # type: ignore[arg-type]
    return discord.HTTPException(response, body)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # the route's template, e.g. "/channels/{channel_id}/messages"
    url: str
    payload: dict[str, Any] | list[Any] | None
    webhook: bool = False

    @property
    def message(self) -> dict[str, Any]:
        """The message this request posts or edits (interaction callbacks wrap it in data)."""
        if not isinstance(self.payload, dict):
            return {}
        if self.path.endswith("/callback"):
            return dict(self.payload.get("data") or {})
        return self.payload

    @property
    def content(self) -> str:
        return str(self.message.get("content") or "")

    @property
    def labels(self) -> list[str]:
        return [b.get("label", "") for row in self.components for b in row.get("components", [])]

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.message.get("components") or [])

    @property
    def response_type(self) -> int | None:
        """An interaction callback's type: 4 a new message, 7 the pressed message updated."""
        if not (isinstance(self.payload, dict) and self.path.endswith("/callback")):
            return None
        return int(self.payload["type"])

    @property
    def flags(self) -> int:
        return int(self.message.get("flags") or 0)

    @property
    def sends_message(self) -> bool:
        return bool(self.content) and self.method in {"POST", "PATCH"}


class DiscordRecorder:
    """Records every request discord.py makes and answers it as Discord would."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.unexpected: list[str] = []
        self.failures: dict[tuple[str, str], list[Exception]] = {}
        self.members: dict[int, dict[str, Any]] = {}  # for GET /guilds/{id}/members/{id}
        self.gateway_bot: dict[str, Any] | None = None  # GET /gateway/bot's answer
        self._ids = itertools.count(1200000000000000001)
        self.sent_ids: dict[int, Request] = {}  # message id we made up -> the request

    # -- set-up ------------------------------------------------------------------------------

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        recorder = self

        async def http_request(http: HTTPClient, route: Route, **kwargs: Any) -> Any:
            return recorder.answer(route, kwargs.get("json"), webhook=False)

        async def webhook_request(
            adapter: AsyncWebhookAdapter, route: Route, session: Any, **kwargs: Any
        ) -> Any:
            return recorder.answer(route, kwargs.get("payload"), webhook=True)

        def no_network(*args: Any, **kwargs: Any) -> Any:
            recorder.unexpected.append("aiohttp was asked to reach the network")
            raise AssertionError("a test tried to reach the network")

        async def gateway(http: HTTPClient, url: str, **kwargs: Any) -> Any:
            recorder.unexpected.append(f"gateway connection to {url}")
            raise AssertionError("a test tried to connect to Discord's gateway")

        monkeypatch.setattr(HTTPClient, "request", http_request)
        monkeypatch.setattr(HTTPClient, "ws_connect", gateway)
        monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)
        monkeypatch.setattr(aiohttp.ClientSession, "_request", no_network)
        monkeypatch.setattr(aiohttp.ClientSession, "ws_connect", no_network)

    def use_gateway(self, monkeypatch: pytest.MonkeyPatch, standin: GatewayStandin) -> None:
        """Connect the gateway to ``standin`` on 127.0.0.1 (REST calls stay recorded).

        GET /gateway/bot answers with the stand-in's URL and its recommended shard count;
        a client told its shards connects to Discord's default URL, sent there too.
        """
        for name, real in _REAL_SESSION.items():
            monkeypatch.setattr(aiohttp.ClientSession, name, real)

        async def identify_at_once(
            client: discord.Client, shard_id: int | None, *, initial: bool = False
        ) -> None:
            # discord.py waits 5 s before each shard's IDENTIFY after the first, for Discord's
            # rate limit; the stand-in has none.
            return None

        monkeypatch.setattr(discord.Client, "before_identify_hook", identify_at_once)
        self.gateway_bot = {
            "url": standin.url,
            "shards": standin.recommended,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

        async def gateway(http: HTTPClient, url: str, **kwargs: Any) -> Any:
            return await _REAL_WS_CONNECT(http, standin.url, **kwargs)

        monkeypatch.setattr(HTTPClient, "ws_connect", gateway)

    def fail(self, method: str, path: str, error: Exception, times: int = 1) -> None:
        """The next ``times`` requests to this route template raise ``error``."""
        self.failures.setdefault((method, path), []).extend([error] * times)

    # -- reading what was sent ---------------------------------------------------------------

    def since(self, count: int) -> list[Request]:
        return self.requests[count:]

    def requests_to(self, method: str, path: str) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == (method, path)]

    def messages(self, requests: list[Request] | None = None) -> list[Request]:
        """Requests that post a message (channel sends, interaction answers, follow-ups)."""
        return [
            r
            for r in (self.requests if requests is None else requests)
            if r.content and (r.method == "POST" or r.path.endswith("/messages/{message_id}"))
        ]

    # -- answering ---------------------------------------------------------------------------

    def answer(self, route: Route, payload: Any, webhook: bool) -> Any:
        request = Request(route.method, route.path, route.url, payload, webhook)
        self.requests.append(request)
        pending = self.failures.get((route.method, route.path))
        if pending:
            raise pending.pop(0)
        handler = _ROUTES.get((route.method, route.path))
        if handler is None:
            self.unexpected.append(f"{route.method} {route.path}")
            raise AssertionError(f"unexpected Discord request: {route.method} {route.url}")
        return handler(self, route, request)

    def new_id(self) -> int:
        return next(self._ids)

    def _me(self, route: Route, request: Request) -> Any:
        return user(APP_ID, "InquiryBot", bot=True)

    def _application(self, route: Route, request: Request) -> Any:
        return {
            "id": str(APP_ID),
            "name": "InquiryBot",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user(OWNER_ID, "owner"),
            "verify_key": "0" * 64,
            "team": None,
            "flags": 0,
        }

    def _commands(self, route: Route, request: Request) -> Any:
        guild = route.guild_id
        return [
            {
                **command,
                "id": str(self.new_id()),
                "application_id": str(APP_ID),
                "version": "1",
                **({"guild_id": str(guild)} if guild else {}),
            }
            for command in (request.payload or [])
        ]

    def _message(self, channel_id: int, request: Request, message_id: int | None = None) -> Any:
        body = request.message
        message_id = message_id or self.new_id()
        self.sent_ids.setdefault(message_id, request)  # an edit keeps the original
        return message(
            message_id,
            channel_id,
            user(APP_ID, "InquiryBot", bot=True),
            str(body.get("content") or ""),
            components=body.get("components") or [],
        )

    def _channel_message(self, route: Route, request: Request) -> Any:
        return self._message(int(route.channel_id or 0), request)

    def _channel_edit(self, route: Route, request: Request) -> Any:
        message_id = int(route.url.rsplit("/", 1)[1])
        return self._message(int(route.channel_id or 0), request, message_id)

    def _callback(self, route: Route, request: Request) -> Any:
        payload = request.payload if isinstance(request.payload, dict) else {}
        kind = payload.get("type")
        interaction = {"id": str(route.webhook_id), "type": 2}
        if kind != 4:
            return {"interaction": interaction, "resource": {"type": kind}}
        message_id = self.new_id()
        interaction["response_message_id"] = str(message_id)
        return {
            "interaction": interaction,
            "resource": {"type": 4, "message": self._message(CHANNEL_ID, request, message_id)},
        }

    def _followup(self, route: Route, request: Request) -> Any:
        return self._message(CHANNEL_ID, request)

    def _webhook_edit(self, route: Route, request: Request) -> Any:
        last = route.url.rsplit("/", 1)[1]
        return self._message(CHANNEL_ID, request, None if last == "@original" else int(last))

    def _gateway_bot(self, route: Route, request: Request) -> Any:
        if self.gateway_bot is None:
            self.unexpected.append("GET /gateway/bot without a gateway stand-in")
            raise AssertionError("a test asked for Discord's gateway without a stand-in")
        return self.gateway_bot

    def _member(self, route: Route, request: Request) -> Any:
        member_id = int(route.url.rsplit("/", 1)[1])
        if member_id not in self.members:
            raise http_error(404, 10007, "Unknown Member")
        return self.members[member_id]


_ROUTES = {
    ("GET", "/users/@me"): DiscordRecorder._me,
    ("GET", "/oauth2/applications/@me"): DiscordRecorder._application,
    ("PUT", "/applications/{application_id}/commands"): DiscordRecorder._commands,
    ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands"): (
        DiscordRecorder._commands
    ),
    ("POST", "/channels/{channel_id}/messages"): DiscordRecorder._channel_message,
    ("PATCH", "/channels/{channel_id}/messages/{message_id}"): DiscordRecorder._channel_edit,
    ("POST", "/interactions/{webhook_id}/{webhook_token}/callback"): DiscordRecorder._callback,
    ("POST", "/webhooks/{webhook_id}/{webhook_token}"): DiscordRecorder._followup,
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"): (
        DiscordRecorder._webhook_edit
    ),
    ("PATCH", "/webhooks/{webhook_id}/{webhook_token}/messages/@original"): (
        DiscordRecorder._webhook_edit
    ),
    ("GET", "/guilds/{guild_id}/members/{member_id}"): DiscordRecorder._member,
    ("GET", "/gateway/bot"): DiscordRecorder._gateway_bot,
}


# -- gateway payloads ------------------------------------------------------------------------


def user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "discriminator": "0",
        "global_name": name.title(),
        "avatar": None,
        "bot": bot,
    }


def role(role_id: int, name: str, permissions: int, position: int = 0) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": str(permissions),
        "position": position,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": False,
        "flags": 0,
    }


def member(user_payload: dict[str, Any], roles: tuple[int, ...] = ()) -> dict[str, Any]:
    return {
        "user": user_payload,
        "roles": [str(r) for r in roles],
        "joined_at": TIMESTAMP,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def text_channel(channel_id: int, name: str, guild_id: int = GUILD_ID) -> dict[str, Any]:
    return {
        "id": str(channel_id),
        "type": 0,
        "guild_id": str(guild_id),
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
    }


def dm_channel(channel_id: int, recipient: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(channel_id), "type": 1, "recipients": [recipient]}


def guild_create(
    guild_id: int = GUILD_ID,
    name: str = "Inquiry Watchers",
    channel_ids: tuple[int, int] = (CHANNEL_ID, OTHER_CHANNEL_ID),
) -> dict[str, Any]:
    """A server with #general and #news, a Mods role with Manage Server, and three people."""
    return {
        "id": str(guild_id),
        "name": name,
        "owner_id": str(OWNER_ID),
        "unavailable": False,
        "member_count": 4,
        "large": False,
        "joined_at": TIMESTAMP,
        "features": [],
        "emojis": [],
        "stickers": [],
        "roles": [
            role(guild_id, "@everyone", EVERYONE_PERMISSIONS),
            role(MODERATOR_ROLE_ID, "Mods", MANAGE_GUILD, position=1),
        ],
        "channels": [
            text_channel(channel_ids[0], "general", guild_id),
            text_channel(channel_ids[1], "news", guild_id),
        ],
        "threads": [],
        "members": [member(user(APP_ID, "InquiryBot", bot=True))],
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def message(
    message_id: int,
    channel_id: int,
    author: dict[str, Any],
    content: str,
    *,
    guild_id: int | None = None,
    author_member: dict[str, Any] | None = None,
    mentions: tuple[dict[str, Any], ...] = (),
    components: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A MESSAGE_CREATE payload (and the shape of a message Discord returns)."""
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": list(mentions),
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": components or [],
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
        if author_member is not None:
            data["member"] = {k: v for k, v in author_member.items() if k != "user"}
    return data


@dataclass(frozen=True)
class Person:
    user: dict[str, Any]
    roles: tuple[int, ...] = ()

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def permissions(self) -> int:
        """What Discord computes for an interaction's member (owner and roles included)."""
        if self.id == OWNER_ID:
            return (1 << 41) - 1
        granted = EVERYONE_PERMISSIONS
        if MODERATOR_ROLE_ID in self.roles:
            granted |= MANAGE_GUILD
        return granted


OWNER = Person(user(OWNER_ID, "olivia"))
MODERATOR = Person(user(MODERATOR_ID, "mo"), (MODERATOR_ROLE_ID,))
MEMBER = Person(user(MEMBER_ID, "mel"))


def interaction(
    kind: int,
    data: dict[str, Any],
    person: Person,
    *,
    interaction_id: int,
    channel_id: int = CHANNEL_ID,
    guild_id: int | None = GUILD_ID,
    message_payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload: 2 a slash command, 3 a button, 4 autocomplete."""
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(APP_ID),
        "type": kind,
        "data": data,
        "token": f"interaction-token-{interaction_id}",
        "version": 1,
        "channel_id": str(channel_id),
        "app_permissions": str(EVERYONE_PERMISSIONS),
        "locale": "en-GB",
        "entitlements": [],
        "attachment_size_limit": 10 * 1024 * 1024,
    }
    if guild_id is None:
        payload["channel"] = dm_channel(channel_id, person.user)
        payload["user"] = person.user
        payload["context"] = 1
        payload["authorizing_integration_owners"] = {"0": "0"}
    else:
        payload["channel"] = text_channel(channel_id, "general", guild_id)
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-GB"
        payload["member"] = {
            **member(person.user, person.roles),
            "permissions": str(person.permissions()),
        }
        payload["context"] = 0
        payload["authorizing_integration_owners"] = {"0": str(guild_id)}
    if message_payload is not None:
        payload["message"] = message_payload
    return payload


def option(name: str, value: object, focused: bool = False) -> dict[str, Any]:
    kind = 4 if isinstance(value, int) else 3
    data: dict[str, Any] = {"name": name, "type": kind, "value": value}
    if focused:
        data["focused"] = True
    return data


async def settle() -> None:
    """Wait for the event handlers discord.py started (bounded: a hang fails the test)."""
    current = asyncio.current_task()
    for _ in range(50):
        pending = [
            t
            for t in asyncio.all_tasks()
            if t is not current and not t.done() and t.get_name().startswith(_EVENT_TASKS)
        ]
        if not pending:
            return
        await asyncio.wait(pending, timeout=10)
    raise AssertionError("Discord event handlers kept starting new ones")


class FakeDiscord:
    """Drives one adapter: people type, press and join; returns what the bot sent."""

    def __init__(self, adapter: DiscordAdapter, recorder: DiscordRecorder) -> None:
        self.adapter = adapter
        self.recorder = recorder
        self.state = adapter.client._connection
        self._ids = itertools.count(1300000000000000001)

    def next_id(self) -> int:
        return next(self._ids)

    async def join_guild(self, guild_id: int = GUILD_ID) -> None:
        self.state.parse_guild_create(guild_create(guild_id))
        await settle()

    async def leave_guild(self, guild_id: int = GUILD_ID) -> None:
        self.state.parse_guild_delete({"id": str(guild_id)})
        await settle()

    async def _feed(self, parse: Any, payload: dict[str, Any]) -> list[Request]:
        before = len(self.recorder.requests)
        parse(payload)
        await settle()
        return self.recorder.since(before)

    async def slash(
        self,
        name: str,
        /,  # so an option may be called "name" (/inquiry name:)
        person: Person = MEMBER,
        *,
        guild_id: int | None = GUILD_ID,
        channel_id: int = CHANNEL_ID,
        **options: object,
    ) -> list[Request]:
        data: dict[str, Any] = {
            "id": str(self.next_id()),
            "name": name,
            "type": 1,
            "options": [option(k, v) for k, v in options.items()],
        }
        if self.adapter.guild_id is not None:
            data["guild_id"] = str(self.adapter.guild_id)
        payload = interaction(
            2,
            data,
            person,
            interaction_id=self.next_id(),
            channel_id=channel_id,
            guild_id=guild_id,
        )
        return await self._feed(self.state.parse_interaction_create, payload)

    async def autocomplete(
        self,
        name: str,
        option_name: str,
        typed: str,
        *,
        option_type: int = 4,  # 4 an integer, 3 a string
        channel_id: int = CHANNEL_ID,
    ) -> list[Request]:
        data = {
            "id": str(self.next_id()),
            "name": name,
            "type": 1,
            "options": [
                {"name": option_name, "type": option_type, "value": typed, "focused": True}
            ],
        }
        payload = interaction(4, data, MEMBER, interaction_id=self.next_id(), channel_id=channel_id)
        return await self._feed(self.state.parse_interaction_create, payload)

    async def press(
        self, sent: Request, label: str, person: Person = MEMBER, *, guild_id: int | None = GUILD_ID
    ) -> list[Request]:
        """Press the button with this label under a message the bot sent."""
        buttons = [b for row in sent.components for b in row["components"]]
        button = next(b for b in buttons if b.get("label") == label)
        message_id = next(i for i, r in self.recorder.sent_ids.items() if r is sent)
        shown = message(
            message_id,
            CHANNEL_ID,
            user(APP_ID, "InquiryBot", bot=True),
            sent.content,
            guild_id=guild_id,
            components=sent.components,
        )
        data = {"custom_id": button["custom_id"], "component_type": 2}
        payload = interaction(
            3, data, person, interaction_id=self.next_id(), guild_id=guild_id, message_payload=shown
        )
        answered = await self._feed(self.state.parse_interaction_create, payload)
        for request in answered:
            if request.response_type == 7 and request.content:
                self.recorder.sent_ids[message_id] = request  # the message now shows this
        return answered

    async def press_custom_id(
        self, custom_id: str, label: str = "Next ▶", person: Person = MEMBER
    ) -> list[Request]:
        """A press on a button the bot may never have sent (an old or forged message)."""
        row = {
            "type": 1,
            "components": [{"type": 2, "style": 2, "label": label, "custom_id": custom_id}],
        }
        shown = message(
            self.next_id(),
            CHANNEL_ID,
            user(APP_ID, "InquiryBot", bot=True),
            "An old answer",
            guild_id=GUILD_ID,
            components=[row],
        )
        data = {"custom_id": custom_id, "component_type": 2}
        payload = interaction(3, data, person, interaction_id=self.next_id(), message_payload=shown)
        return await self._feed(self.state.parse_interaction_create, payload)

    async def say(
        self,
        content: str,
        person: Person = MEMBER,
        *,
        channel_id: int = CHANNEL_ID,
        guild_id: int | None = GUILD_ID,
        mentions_bot: bool = False,
        author: dict[str, Any] | None = None,
    ) -> list[Request]:
        mentions = (user(APP_ID, "InquiryBot", bot=True),) if mentions_bot else ()
        payload = message(
            self.next_id(),
            channel_id,
            author or person.user,
            content,
            guild_id=guild_id,
            author_member=member(person.user, person.roles) if guild_id else None,
            mentions=mentions,
        )
        return await self._feed(self.state.parse_message_create, payload)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard Discord sends a server's events on."""
    return (guild_id >> 22) % shard_count


def guild_on_shard(shard_id: int, shard_count: int) -> int:
    """A server id (from GUILD_ID on) whose events come on this shard."""
    ids = range(GUILD_ID, GUILD_ID + (shard_count << 22), 1 << 22)
    return next(g for g in ids if shard_of(g, shard_count) == shard_id)


@dataclass
class Guild:
    """A server the stand-in knows, with its two text channels."""

    id: int
    channels: tuple[int, int]
    name: str = "Inquiry Watchers"

    def payload(self) -> dict[str, Any]:
        return guild_create(self.id, self.name, self.channels)


@dataclass
class Connection:
    """One shard's connection to the stand-in, once it has identified."""

    shard: tuple[int, int]  # (shard id, shard count), as sent in IDENTIFY
    intents: int
    socket: web.WebSocketResponse
    sequence: int = 0

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        self.sequence += 1
        await self.socket.send_str(json.dumps({"op": 0, "t": event, "s": self.sequence, "d": data}))


class GatewayStandin:
    """Discord's gateway on 127.0.0.1, for any number of shards: says HELLO, takes IDENTIFY,
    then sends READY and each of its servers on the shard Discord would (or, with
    ``refuse_intents``, closes with 4014 as Discord does for a privileged intent the bot is
    not allowed), answers heartbeats, and records the close code the bot ends each
    connection with (1000: a normal close, after which Discord shows the bot offline;
    anything else leaves a session to resume). ``recommended`` is the shard count GET
    /gateway/bot answers with."""

    def __init__(
        self, recommended: int = 1, guilds: tuple[Guild, ...] = (), refuse_intents: int = 0
    ) -> None:
        self.recommended = recommended
        self.guilds = guilds
        self.refuse_intents = refuse_intents
        self.identified = asyncio.Event()
        self.closed = asyncio.Event()
        self.connections: list[Connection] = []
        self.close_codes: list[int | None] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    @property
    def shards(self) -> list[tuple[int, int]]:
        """Each IDENTIFY's (shard id, shard count), in the order they came."""
        return [c.shard for c in self.connections]

    def connection(self, shard_id: int) -> Connection:
        return next(c for c in self.connections if c.shard[0] == shard_id)

    async def until_identified(self, count: int, timeout: float = 10.0) -> None:
        for _ in range(int(timeout / 0.01)):
            if len(self.connections) >= count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{len(self.connections)} of {count} shards identified")

    async def __aenter__(self) -> GatewayStandin:
        app = web.Application()
        app.router.add_get("/", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"ws://{host}:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 45_000}}))
        async for frame in ws:
            if frame.type is not aiohttp.WSMsgType.TEXT:
                continue
            sent = json.loads(frame.data)
            if sent.get("op") == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif sent.get("op") == 2:
                await self._identify(ws, sent["d"])
        self.close_codes.append(ws.close_code)
        self.closed.set()
        return ws

    async def _identify(self, ws: web.WebSocketResponse, identify: dict[str, Any]) -> None:
        shard_id, count = identify.get("shard") or (0, 1)
        connection = Connection((shard_id, count), int(identify["intents"]), ws)
        self.connections.append(connection)
        self.identified.set()
        if connection.intents & self.refuse_intents:
            await ws.close(code=4014, message=b"Disallowed intent(s).")
            return
        mine = [g for g in self.guilds if shard_of(g.id, count) == shard_id]
        ready = {
            "v": 10,
            "user": user(APP_ID, "InquiryBot", bot=True),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in mine],
            "session_id": f"session-{shard_id}",
            "resume_gateway_url": self.url,
            "shard": [shard_id, count],
            "application": {"id": str(APP_ID), "flags": 0},
        }
        await connection.dispatch("READY", ready)
        for guild in mine:
            await connection.dispatch("GUILD_CREATE", guild.payload())
