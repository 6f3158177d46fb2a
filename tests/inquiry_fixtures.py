"""A deployment serving three inquiries: the Casey seeds and two small fictional ones
(tests/fixtures/inquiries): Harbourside (3 findings, 4 recommendations, with an
inquiry.json) and Northgate (5 findings, 18 recommendations, without one)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from bot.documents import default_corpus_dir
from bot.messages import ChatKind, ChatRef, DeliveryOutcome, Reply

# The same people, clock and moderators as the digest commands' tests.
from tests.test_subscriptions import ADMIN as ADMIN
from tests.test_subscriptions import MEMBER as MEMBER
from tests.test_subscriptions import NOW as NOW
from tests.test_subscriptions import Admins as Admins
from tests.test_subscriptions import FixedClock as FixedClock

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "inquiries"
ALICE = ChatRef("console", "alice", ChatKind.PRIVATE)
BOB = ChatRef("console", "bob", ChatKind.PRIVATE)
GROUP = ChatRef("console", "-500", ChatKind.GROUP, "Reading group")


def make_corpus(root: Path) -> Path:
    """A corpus folder of three inquiry folders."""
    shutil.copytree(default_corpus_dir(), root / "casey", ignore=shutil.ignore_patterns("__*"))
    for name in ("harbourside", "northgate"):
        shutil.copytree(FIXTURES / name, root / name)
    return root


@dataclass
class RecordingSender:
    platform: str = "console"
    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> DeliveryOutcome:
        self.sent.append((chat_id, reply))
        return DeliveryOutcome.delivered()

    def to(self, chat_id: str) -> list[str]:
        return [reply.plain for chat, reply in self.sent if chat == chat_id]
