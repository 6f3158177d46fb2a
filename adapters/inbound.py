"""Text as it arrives from a chat platform, made safe for everything after it.

Both platforms send JSON, and JSON may carry a lone UTF-16 surrogate (``"\\ud800"``) that
no client should produce but anyone can send. Python decodes it into a ``str`` that cannot
be encoded as UTF-8 or UTF-16, so the first reply quoting it, or the database storing it,
would fail. Adapters pass every piece of text they read (message, names, titles) through
:func:`clean_text` before the core sees it.
"""

from __future__ import annotations

import re

# In a decoded str a valid pair is already one code point: anything in this range is alone.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` without lone surrogates, dropped like the core drops control characters."""
    return _LONE_SURROGATE.sub("", text)


def clean_optional(text: str | None) -> str | None:
    return None if text is None else clean_text(text)
