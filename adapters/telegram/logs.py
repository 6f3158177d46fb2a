"""One of python-telegram-bot's log records, reshaped for an operator.

When the bot stops while Telegram cannot be reached, the library's last call (marking the
fetched updates read) fails, and it logs an ERROR with a traceback: on every such stop,
for something nobody can act on. It becomes one WARNING line saying what it means.
"""

from __future__ import annotations

import logging

_UPDATER = "telegram.ext.Updater"
_MARKING = "one more time to mark all fetched updates"


class UnreachableAtStop(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and _MARKING in str(record.msg):
            error = record.exc_info[1] if record.exc_info else None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.msg = (
                "could not tell Telegram while stopping that the last updates were read "
                "(%s); it may send them again at the next start"
            )
            record.args = (f"{type(error).__name__}: {error}" if error else "no details",)
            record.exc_info, record.exc_text = None, None
        return True


def quieten_stop_errors() -> None:
    """Install the filter on python-telegram-bot's updater logger (once)."""
    updater = logging.getLogger(_UPDATER)
    if not any(isinstance(f, UnreachableAtStop) for f in updater.filters):
        updater.addFilter(UnreachableAtStop())
