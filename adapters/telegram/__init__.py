"""The Telegram adapter over python-telegram-bot (imported absolutely: no shadowing)."""
