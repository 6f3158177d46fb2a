"""Digests per inquiry: each subscription's digest is built from its own inquiry.

A chat may subscribe to several inquiries; each subscription has its own schedule and its own
place in its inquiry's findings and recommendations. One scheduler pass groups the due
subscriptions by inquiry and builds the groups together, each with its inquiry's builder
(kept between passes, with its memos), loading an inquiry the first time one of its digests
is due.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from bot.digests.digest import Digest, DigestBuilder, DigestInquiry, RenderCustom
from bot.inquiries.chats import inquiry_label, with_inquiry
from bot.services import Services
from bot.store import Store, Subscription

log = logging.getLogger(__name__)

RendererFor = Callable[[Services], RenderCustom | None]


class InquiryRenderers:
    """The renderer of chats' own digest templates over each inquiry's data, made once."""

    def __init__(self, make: RendererFor) -> None:
        self._make = make
        self._made: dict[str, RenderCustom | None] = {}

    def __call__(self, services: Services) -> RenderCustom | None:
        key = services.inquiry.name if services.inquiry else ""
        if key not in self._made:
            self._made[key] = self._make(services)
        return self._made[key]


def digest_builder(
    services: Services, store: Store, render_custom: RenderCustom | None = None
) -> DigestBuilder:
    """A builder of the digests of the services' inquiry."""
    about = None
    if services.inquiry is not None and services.inquiries is not None:
        about = DigestInquiry(services.inquiry.name, inquiry_label(services))
    return DigestBuilder(services.corpus, services.views, store, render_custom, inquiry=about)


class InquiryDigests:
    """The scheduler's digest maker when the bot serves inquiries (``DigestMaker``)."""

    def __init__(
        self, services: Services, store: Store, renderer_for: RendererFor | None = None
    ) -> None:
        self.services = services
        self.store = store
        self.renderer_for = renderer_for
        self._builders: dict[str, DigestBuilder] = {}
        self._gone: set[str] = set()  # inquiries no longer served, warned about once

    async def __call__(
        self, subscriptions: Sequence[Subscription], now: datetime
    ) -> list[Digest | None]:
        catalogue = self.services.inquiries
        if catalogue is None:
            return list(await self._builder(self.services)(subscriptions, now))
        groups: dict[str, list[int]] = {}
        for position, sub in enumerate(subscriptions):
            if sub.inquiry and catalogue.get(sub.inquiry) is None:
                # Its folder was removed: another inquiry's digest in its place would be
                # wrong, so it waits (and /subscriptions says why) until it is back.
                self._warn_gone(sub.inquiry)
                continue
            groups.setdefault(catalogue.resolve(sub.inquiry).name, []).append(position)
        loaded = {
            name: with_inquiry(self.services, await catalogue.load(catalogue.resolve(name)))
            for name in groups
        }
        # Every inquiry's digests are built together, so chats' own templates render in the
        # one window a pass allows (PASS_BUDGET), not one window for each inquiry in turn.
        per_inquiry = await asyncio.gather(
            *(
                self._builder(loaded[name])([subscriptions[p] for p in positions], now)
                for name, positions in groups.items()
            )
        )
        built: list[Digest | None] = [None] * len(subscriptions)
        for positions, digests in zip(groups.values(), per_inquiry, strict=True):
            for position, digest in zip(positions, digests, strict=True):
                built[position] = digest
        return built

    def _warn_gone(self, name: str) -> None:
        if name not in self._gone:
            self._gone.add(name)
            log.warning(
                "digests of inquiry %r are held: the bot no longer serves it (its folder is "
                "gone); they resume if it comes back, and /unsubscribe %s stops one",
                name,
                name,
            )

    def _builder(self, services: Services) -> DigestBuilder:
        key = services.inquiry.name if services.inquiry else ""
        builder = self._builders.get(key)
        if builder is None:
            render = self.renderer_for(services) if self.renderer_for else None
            builder = self._builders[key] = digest_builder(services, self.store, render)
        return builder
