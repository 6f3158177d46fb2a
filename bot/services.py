"""The services a command handler may use, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.model import Corpus
from bot.paging import Pager
from bot.ports import Clock, ModeratorCheck, SystemClock
from bot.views import Views

if TYPE_CHECKING:
    from bot.inquiries import Catalogue, Inquiry
    from bot.search import SearchIndex
    from bot.store import Store
    from bot.templates.sandbox import TemplateSandbox


@dataclass
class Services:
    corpus: Corpus
    index: SearchIndex
    views: Views
    moderators: ModeratorCheck
    clock: Clock = field(default_factory=SystemClock)
    pager: Pager = field(default_factory=Pager)
    store: Store | None = None
    sandbox: TemplateSandbox | None = None
    bot_name: str = "InquiryBot"
    default_timezone: str = "Europe/London"
    # Every inquiry served; ``corpus``, ``index`` and ``inquiry`` are the one the chat follows
    # (the router hands each message the services of its chat's inquiry).
    inquiries: Catalogue | None = None
    inquiry: Inquiry | None = None
