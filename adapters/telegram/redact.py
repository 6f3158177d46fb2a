"""Keeps the Telegram bot token out of every log record.

The Bot API puts the token in every request URL (``https://api.telegram.org/bot<TOKEN>/getMe``),
and httpx logs each URL at INFO; python-telegram-bot's own errors quote the token too
(``InvalidToken: The token `...` was rejected``). Anyone who can read the logs could then
run the bot. The filter rewrites each record's message, arguments and traceback text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote

REDACTED = "[REDACTED-TOKEN]"
# Anything shaped like a bot token: "<bot id>:<secret>", with or without the URL's "bot".
_TOKEN_SHAPE = re.compile(r"(?<![A-Za-z0-9])(?:bot)?\d{3,}(?::|%3A)[A-Za-z0-9_-]{20,}")
_NOISY_LOGGERS = ("httpx", "httpcore")


class TokenRedactor(logging.Filter):
    """A logging filter that blanks the given tokens, and anything shaped like one."""

    def __init__(self, *tokens: str) -> None:
        super().__init__()
        secrets: set[str] = set()
        for token in tokens:
            if token:
                secrets.update({token, quote(token, safe="")})
        # Longest first, so a token is never half replaced by a shorter one it contains.
        self.secrets = sorted(secrets, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPE.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it always does
            return True
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def install_token_redaction(
    *tokens: str, handlers: Iterable[logging.Handler] | None = None
) -> TokenRedactor:
    """Redact tokens from every record the root logger's handlers (or ``handlers``) emit.

    Call it after logging is configured (handlers added later are not covered). It also
    quietens httpx, whose INFO records are one line per request URL.
    """
    redactor = TokenRedactor(*tokens)
    for handler in logging.getLogger().handlers if handlers is None else handlers:
        handler.addFilter(redactor)
    for name in _NOISY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
