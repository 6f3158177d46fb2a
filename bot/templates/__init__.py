"""Moderators' templates: the chat commands, the context a template sees, and the sandbox
whose worker processes render them.

Kept free of imports: a sandbox worker imports :mod:`bot.templates.worker` and as little
else as possible.
"""
