"""Where the bot keeps its state: SQLite (the default) and PostgreSQL."""
