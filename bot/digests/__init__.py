"""Digests: when they are due (schedule), what they say (digest), and sending them (scheduler)."""
