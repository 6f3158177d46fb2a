"""The platform-neutral core of the inquiry briefing bot."""
