"""/healthz and /metrics: what a load balancer and Prometheus see."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from adapters.health import HealthServer, HttpSettings, Metrics, store_check
from bot.digests.scheduler import DeliveryRecord
from bot.errors import ConfigError
from bot.store import InMemoryStore

T0 = datetime(2024, 5, 14, 7, 0, tzinfo=UTC)


class BrokenStore(InMemoryStore):
    async def count_unfinished(self) -> int:
        raise ConnectionRefusedError("connection refused")


async def get(server: HealthServer, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{server.port}{path}") as response:
            return response.status, await response.text()


async def serving(store: InMemoryStore, metrics: Metrics) -> HealthServer:
    check = store_check(store, ["discord"], scheduler=True)
    server = HealthServer(HttpSettings("127.0.0.1", 0), metrics, check)
    await server.start()
    return server


async def test_healthz_says_ok_while_the_database_answers_and_503_when_not() -> None:
    metrics = Metrics()
    good, bad = await serving(InMemoryStore(), metrics), await serving(BrokenStore(), metrics)
    try:
        status, body = await get(good, "/healthz")
        assert status == 200 and '"status": "ok"' in body and '"discord"' in body
        status, body = await get(bad, "/healthz")
        assert status == 503 and "connection refused" in body
    finally:
        await good.stop()
        await bad.stop()


async def test_metrics_count_digests_by_outcome_and_the_queue() -> None:
    metrics = Metrics()
    records = [
        DeliveryRecord("1", "discord", T0.isoformat(), status, "text")
        for status in ("delivered", "delivered", "retry", "gone")
    ]
    metrics.digest_pass(records, unfinished=7)
    server = await serving(InMemoryStore(), metrics)
    try:
        status, text = await get(server, "/metrics")
    finally:
        await server.stop()
    assert status == 200
    lines: Mapping[str, Any] = dict(
        line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert lines['inquiry_bot_digests_total{status="delivered"}'] == "2.0"
    assert lines['inquiry_bot_digests_total{status="retry"}'] == "1.0"
    assert lines['inquiry_bot_digests_total{status="failed"}'] == "0.0"
    assert lines["inquiry_bot_outbox_unfinished"] == "7.0"


def test_the_port_setting() -> None:
    assert HttpSettings.from_env({}) is None
    assert HttpSettings.from_env({"INQUIRY_BOT_HTTP_PORT": "9100"}) == HttpSettings(
        "127.0.0.1", 9100
    )
    both = {"INQUIRY_BOT_HTTP_PORT": "9100", "INQUIRY_BOT_HTTP_HOST": "0.0.0.0"}
    assert HttpSettings.from_env(both) == HttpSettings("0.0.0.0", 9100)
    with pytest.raises(ConfigError, match="INQUIRY_BOT_HTTP_PORT"):
        HttpSettings.from_env({"INQUIRY_BOT_HTTP_PORT": "http"})
