"""Adapters: the console, chat platforms and storage, each translating to and from the core."""
