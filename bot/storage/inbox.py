"""The inbox: platform updates recorded before they are acknowledged, and who works through
each chat's updates now.

An update is one row, unique by (platform, update id): a platform's retry of a recorded update
adds nothing. A chat's updates are processed in update-id order by one process at a time,
the holder of the chat's lease (`inbox_chats`); a process killed mid-chat leaves a lease that
lapses, and another process takes the chat over. The same SQL works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .store import Store
from .tables import InboxChat, InboxUpdate, utcnow


@dataclass(frozen=True, slots=True)
class Recorded:
    id: int
    update_id: int
    payload: str


def _insert(store: Store, table: type[InboxUpdate] | type[InboxChat]
            ) -> sqlite.Insert | postgresql.Insert:
    if store.engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def record(self, platform: str, update_id: int, chat: str, payload: str) -> bool:
        """Commit one update; False if it was recorded before (a retry)."""
        async with self.store.autocommit() as conn:
            got = (await conn.execute(
                _insert(self.store, InboxUpdate)
                .values(platform=platform, update_id=update_id, chat=chat, payload=payload,
                        received_at=utcnow())
                .on_conflict_do_nothing().returning(InboxUpdate.id))).scalar_one_or_none()
        return got is not None

    async def claim(self, platform: str, chat: str, owner: str, lease_s: float) -> bool:
        """True if `owner` holds the chat until now + `lease_s` (it was free, lapsed or its).
        Each statement stands alone (the update checks the holder as it writes)."""
        now = utcnow()
        until = now + timedelta(seconds=lease_s)
        async with self.store.autocommit() as conn:
            got = (await conn.execute(
                _insert(self.store, InboxChat)
                .values(platform=platform, chat=chat, owner=owner, lease_until=until)
                .on_conflict_do_nothing().returning(InboxChat.chat))).scalar_one_or_none()
            if got is None:
                got = (await conn.execute(
                    update(InboxChat)
                    .where(InboxChat.platform == platform, InboxChat.chat == chat,
                           or_(InboxChat.owner == owner, InboxChat.lease_until.is_(None),
                               InboxChat.lease_until < now))
                    .values(owner=owner, lease_until=until)
                    .returning(InboxChat.chat))).scalar_one_or_none()
        return got is not None

    async def release(self, platform: str, chat: str, owner: str) -> None:
        async with self.store.autocommit() as conn:
            await conn.execute(update(InboxChat)
                            .where(InboxChat.platform == platform, InboxChat.chat == chat,
                                   InboxChat.owner == owner)
                            .values(owner="", lease_until=None))

    async def pending(self, platform: str, chat: str, limit: int = 20) -> list[Recorded]:
        """The chat's unprocessed updates, oldest update id first."""
        async with self.store.autocommit() as conn:
            rows = (await conn.execute(
                select(InboxUpdate.id, InboxUpdate.update_id, InboxUpdate.payload)
                .where(InboxUpdate.platform == platform, InboxUpdate.chat == chat,
                       InboxUpdate.done_at.is_(None))
                .order_by(InboxUpdate.update_id).limit(limit))).all()
        return [Recorded(*row) for row in rows]

    async def done(self, row_id: int, owner: str, platform: str, chat: str) -> bool:
        """Mark one update processed; False (nothing marked) if `owner` lost the chat. Its
        payload (the user's text and ids) is dropped: the row stays only so that a retry of
        the same update id is recognised."""
        held = (select(InboxChat.chat)
                .where(InboxChat.platform == platform, InboxChat.chat == chat,
                       InboxChat.owner == owner).exists())
        async with self.store.autocommit() as conn:  # checked as it writes: one statement
            marked = (await conn.execute(
                update(InboxUpdate).where(InboxUpdate.id == row_id, held)
                .values(done_at=utcnow(), payload="")
                .returning(InboxUpdate.id))).scalar_one_or_none()
        return marked is not None

    async def orphaned(self, platform: str, limit: int = 100,
                       now: datetime | None = None) -> list[str]:
        """Chats with unprocessed updates that no live lease covers (their worker died, or
        an update arrived as the holder let go)."""
        now = now or utcnow()
        async with self.store.autocommit() as conn:
            rows = (await conn.execute(
                select(InboxUpdate.chat).distinct()
                .outerjoin(InboxChat, and_(InboxChat.platform == InboxUpdate.platform,
                                           InboxChat.chat == InboxUpdate.chat))
                .where(InboxUpdate.platform == platform, InboxUpdate.done_at.is_(None),
                       or_(InboxChat.chat.is_(None), InboxChat.lease_until.is_(None),
                           InboxChat.lease_until < now))
                .limit(limit))).all()
        return [row[0] for row in rows]
