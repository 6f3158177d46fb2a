"""The Discord adapter over discord.py (imported absolutely: no shadowing)."""
