"""The core's error hierarchy.

A :class:`UserInputError` is the user's to fix: its message is the reply. Anything else
that escapes a handler is a bug: the router logs it with its traceback and apologises.
"""

from __future__ import annotations


class BotError(Exception):
    """Base of every error the core raises on purpose."""


class UserInputError(BotError):
    """Bad input from the user; ``str(err)`` is a friendly, specific reply."""


class Refusal(UserInputError):
    """The bot declines what was asked (not allowed, or no longer there).

    Its reply is marked ``refusal``, so a platform that can show a reply to the asker
    alone (Discord's ephemeral messages) does not show it to the whole chat.
    """


MODERATORS = "its admins"


class NotAModerator(Refusal):
    def __init__(self, what: str = "change this chat's settings", who: str = MODERATORS) -> None:
        super().__init__(f"Only this chat's moderators ({who}) can {what}.")


class ConfigError(BotError):
    """The operator's configuration is wrong (bad path, newer database, ...)."""


class RendererStopped(BotError):
    """A chat template renderer that is stopping (the bot is shutting down): a digest that
    needed it is held for a later pass, not sent in the built-in form in its place."""
