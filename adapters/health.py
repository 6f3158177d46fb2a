"""``/healthz`` and ``/metrics`` for ``inquiry-bot serve``, on $INQUIRY_BOT_HTTP_PORT (off by
default; $INQUIRY_BOT_HTTP_HOST, default 127.0.0.1, says where it listens).

``/healthz`` answers 200 with a JSON summary while the database answers, 503 when it does not:
a load balancer or an orchestrator takes a worker out of rotation on that. ``/metrics`` is the
Prometheus text format: replies and their latency, digests by outcome, the outbox's depth, and
search latency.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.core import BriefingBot
from bot.digests.scheduler import DeliveryRecord
from bot.errors import ConfigError
from bot.messages import IncomingMessage, Reply
from bot.search import SearchIndex
from bot.store import Store

log = logging.getLogger(__name__)

PORT_ENV = "INQUIRY_BOT_HTTP_PORT"
HOST_ENV = "INQUIRY_BOT_HTTP_HOST"
CHECK_TIMEOUT = 5.0  # seconds the database has to answer /healthz


@dataclass(frozen=True)
class HttpSettings:
    host: str
    port: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HttpSettings | None:
        text = env.get(PORT_ENV, "").strip()
        if not text:
            return None
        if not text.isdigit() or not 0 <= int(text) <= 65535:
            raise ConfigError(f"{PORT_ENV}={text!r} is not a port number (0 to 65535).")
        return cls(env.get(HOST_ENV, "").strip() or "127.0.0.1", int(text))


class Metrics:
    """The counters ``/metrics`` shows, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.replies = Counter(
            "inquiry_bot_replies", "Replies sent to messages", ["platform"], registry=r
        )
        self.reply_seconds = Histogram(
            "inquiry_bot_reply_seconds", "Time to answer a message", registry=r
        )
        self.search_seconds = Histogram(
            "inquiry_bot_search_seconds", "Time one search of the documents takes", registry=r
        )
        self.digests = Counter(
            "inquiry_bot_digests",
            "Digest sends by outcome: delivered, retry, gone, failed",
            ["status"],
            registry=r,
        )
        self.queue = Gauge(
            "inquiry_bot_outbox_unfinished",
            "Digests planned and not yet delivered, gone or failed",
            registry=r,
        )
        for status in ("delivered", "retry", "gone", "failed"):
            self.digests.labels(status=status)

    def digest_pass(self, records: Sequence[DeliveryRecord], unfinished: int) -> None:
        for record in records:
            self.digests.labels(status=record.status).inc()
        self.queue.set(unfinished)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class MeteredBot(BriefingBot):
    """The bot, counting its replies and how long each took."""

    def __init__(self, inner: BriefingBot, metrics: Metrics) -> None:
        super().__init__(inner.services, inner.table)
        self.metrics = metrics

    async def handle(self, message: IncomingMessage) -> Reply | None:
        started = time.perf_counter()
        reply = await super().handle(message)
        if reply is not None:
            self.metrics.reply_seconds.observe(time.perf_counter() - started)
            self.metrics.replies.labels(platform=message.chat.platform).inc()
        return reply


class TimedIndex:
    """A search index that times each search; everything else is the index's own."""

    def __init__(self, inner: SearchIndex, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    def search(self, query: str, k: int = 5) -> Any:
        with self._metrics.search_seconds.time():
            return self._inner.search(query, k)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


Check = Callable[[], Awaitable[Mapping[str, Any]]]


def store_check(store: Store, platforms: Sequence[str], scheduler: bool) -> Check:
    async def check() -> Mapping[str, Any]:
        unfinished = await asyncio.wait_for(store.count_unfinished(), CHECK_TIMEOUT)
        return {
            "platforms": list(platforms),
            "scheduler": scheduler,
            "outbox_unfinished": unfinished,
        }

    return check


class HealthServer:
    def __init__(self, settings: HttpSettings, metrics: Metrics, check: Check) -> None:
        self.settings = settings
        self.metrics = metrics
        self.check = check
        self._runner: web.AppRunner | None = None
        self.port = settings.port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.host, self.settings.port)
        try:
            await site.start()
        except OSError as err:
            await runner.cleanup()
            raise ConfigError(
                f"Cannot listen for /healthz on {self.settings.host}:{self.settings.port} "
                f"({PORT_ENV}): {err}"
            ) from err
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("health and metrics on http://%s:%d/", self.settings.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        try:
            details = dict(await self.check())
        except Exception as err:
            log.warning("health check failed: %s", err)
            body = {"status": "unavailable", "reason": f"the database did not answer: {err}"}
            return web.json_response(body, status=503, dumps=json.dumps)
        return web.json_response({"status": "ok", **details})

    async def _metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.metrics.text())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response
