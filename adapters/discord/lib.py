"""discord.py, imported once without its import-time DeprecationWarning.

discord.py's voice player imports ``audioop``, deprecated since Python 3.11 (removed in
3.13; discord.py then falls back to ``audioop-lts``). This bot never plays audio, and the
test suite turns warnings into errors, so every Discord module imports the library from
here.
"""

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings(
        "ignore", message="'audioop' is deprecated", category=DeprecationWarning
    )
    import discord
    from discord import app_commands

# Nor its log warnings that voice needs PyNaCl and davey: there is no voice here.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

__all__ = ["app_commands", "discord"]
