"""How a platform adapter keeps trying a platform it cannot reach at start.

Telegram and Discord follow one policy, which the README promises for both: the first
retry after 1 s, the wait doubling each time up to once a minute.
"""

from __future__ import annotations

START_BACKOFF = 1.0
MAX_START_BACKOFF = 60.0


def doubled(wait: float) -> float:
    """The wait after ``wait``, never more than once a minute."""
    return min(wait * 2, MAX_START_BACKOFF)
