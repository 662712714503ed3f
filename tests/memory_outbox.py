"""An in-memory platform for core tests: an `Outbox` that keeps what it was asked to show,
and a core over a store and stub models."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from bot.app import assemble
from bot.config import Settings
from bot.conversation import Conversations, InboundEvent, PlatformLimits
from bot.conversation.service import ServiceOptions
from bot.storage import Store
from engines import BlendedEngine, ChatModel

_ids = itertools.count(1)


@dataclass
class MemoryOutbox:
    """Messages by id as a member would see them, plus every call in order."""

    limits: PlatformLimits = field(default_factory=lambda: PlatformLimits(
        max_chars=500, edit_interval_s=0.05))
    shown: dict[str, str] = field(default_factory=dict)
    controls: dict[str, bool] = field(default_factory=dict)
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (call, id, text)
    notes: list[str] = field(default_factory=list)
    typed: int = 0

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
        message_id = f"m{next(_ids)}"
        self.shown[message_id], self.controls[message_id] = text, controls
        self.calls.append(("send", message_id, text))
        return message_id

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
        assert message_id in self.shown, f"edit of a message never sent: {message_id}"
        self.shown[message_id], self.controls[message_id] = text, controls
        self.calls.append(("edit", message_id, text))

    async def delete(self, message_id: str) -> None:
        self.shown.pop(message_id)
        self.calls.append(("delete", message_id, ""))

    async def typing(self) -> None:
        self.typed += 1

    async def notify(self, text: str) -> None:
        self.notes.append(text)

    def texts(self) -> list[str]:
        return list(self.shown.values())


def event(text: str, user: str = "Alice", channel: str = "c1", **fields: object
          ) -> InboundEvent:
    """A message in a DM-like channel (always addressed) unless `fields` say otherwise."""
    values: dict[str, object] = {"is_dm": True, "community_name": "Guild",
                                 "channel_name": "general", **fields}
    return InboundEvent("discord", "g1", channel, user.lower(), user, text,
                        **values)  # type: ignore[arg-type]


def core_for(store: Store, engine: BlendedEngine | list[ChatModel], **options: object
             ) -> Conversations:
    if not isinstance(engine, BlendedEngine):
        engine = BlendedEngine(engine, seed=1)
    settings = Settings(database_url=store.url)
    app = assemble(settings, store, engine, ServiceOptions(**options))  # type: ignore[arg-type]
    return app.core


async def regenerate(core: Conversations, who: InboundEvent, reply_id: int | None,
                     outbox: MemoryOutbox) -> object:
    """Press 🔄 on the message that shows stored reply `reply_id`."""
    assert reply_id is not None
    [first, *_] = await core.service.replies.deliveries(reply_id)
    return await core.regenerate(who, first, outbox)
