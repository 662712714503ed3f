"""Updates a platform pushes (Telegram's webhook), acknowledged only once recorded, then
worked through one chat at a time, in order, by whichever process holds the chat.

`accept` commits the update and returns (the adapter then answers 200; if it raises
`NotRecorded`, the adapter answers an error and the platform sends the update again later).
Processing runs after the acknowledgement: the process that recorded an update claims its
chat's lease in the database and feeds the chat's unprocessed updates, oldest first, to the
adapter's processor; a chat held by another process is left to it (its loop picks the new
update up). A sweeper takes over chats whose holder died (its lease lapsed). An update is
marked done after its processor returns; one that is processed again after a crash is
answered at most once, by the core's de-duplication of platform message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from uuid import uuid4

from ..logs import log_failure
from ..storage import Store
from ..storage.inbox import Inbox

log = logging.getLogger(__name__)
Processor = Callable[[str], Awaitable[None]]
LEASE_S = 30.0  # a chat's holder renews this every LEASE_S / 3 while it works
SWEEP_S = 1.0  # how often chats without a live holder are looked for


class NotRecorded(Exception):
    """The update could not be committed (the database is away): do not acknowledge it."""


class UpdateInbox:
    def __init__(self, store: Store, *, lease_s: float = LEASE_S,
                 sweep_s: float = SWEEP_S) -> None:
        self.inbox = Inbox(store)
        self.owner = uuid4().hex[:16]
        self.lease_s, self.sweep_s = lease_s, sweep_s
        self._processors: dict[str, Processor] = {}
        self._working: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._away = False  # the database is away (said once)

    async def accept(self, platform: str, update_id: int, chat: str, payload: str) -> bool:
        """Record one update (False: recorded before, a retry); its chat is then worked
        through in the background. `NotRecorded` if the database cannot take it."""
        try:
            new = await self.inbox.record(platform, update_id, chat, payload)
        except Exception as exc:
            self._say_away("cannot record %s update %s", platform, update_id)
            raise NotRecorded(str(exc).splitlines()[0][:200] if str(exc) else "") from exc
        self._back()
        if platform in self._processors:
            self._work(platform, chat)
        return new

    @contextlib.asynccontextmanager
    async def serving(self, platform: str, processor: Processor) -> AsyncIterator[None]:
        """While inside: this process works through `platform`'s recorded updates with
        `processor(payload)`, and takes over chats that lost their holder."""
        self._processors[platform] = processor
        sweeper = asyncio.create_task(self._sweep(platform), name=f"inbox-sweep-{platform}")
        try:
            yield
        finally:
            sweeper.cancel()
            del self._processors[platform]
            working = [t for (p, _), t in self._working.items() if p == platform]
            for task in [sweeper, *working]:
                task.cancel()
            await asyncio.gather(sweeper, *working, return_exceptions=True)

    async def idle(self) -> None:
        """Wait until this process holds no chat (tests)."""
        while self._working:
            await asyncio.gather(*self._working.values(), return_exceptions=True)

    def _work(self, platform: str, chat: str) -> None:
        key = (platform, chat)
        if key not in self._working:  # working already: its loop sees the new update
            task = asyncio.create_task(self._drain(platform, chat), name=f"inbox-{chat}")
            self._working[key] = task
            task.add_done_callback(lambda _: self._working.pop(key, None))

    async def _drain(self, platform: str, chat: str) -> None:
        inbox, owner = self.inbox, self.owner
        try:
            while await inbox.claim(platform, chat, owner, self.lease_s):
                renew = asyncio.create_task(self._renew(platform, chat))
                try:
                    while rows := await inbox.pending(platform, chat):
                        for row in rows:
                            await self._process(platform, row.payload, row.update_id)
                            if not await inbox.done(row.id, owner, platform, chat):
                                log.warning("inbox: lost chat %s to another process", chat)
                                return
                finally:
                    renew.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await renew
                    await inbox.release(platform, chat, owner)
                if not await inbox.pending(platform, chat, limit=1):
                    return  # else an update came in as we let go: claim the chat again
        except asyncio.CancelledError:
            raise
        except Exception:
            self._say_away("inbox: chat %s stopped; it is taken up again", chat)

    async def _process(self, platform: str, payload: str, update_id: int) -> None:
        try:
            await self._processors[platform](payload)
        except asyncio.CancelledError:
            raise
        except Exception:  # the adapter's own failure: logged, the update is done
            log_failure(log, "inbox: %s update %s failed", platform, update_id)

    async def _renew(self, platform: str, chat: str) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            with contextlib.suppress(Exception):
                await self.inbox.claim(platform, chat, self.owner, self.lease_s)

    async def _sweep(self, platform: str) -> None:
        while True:
            await asyncio.sleep(self.sweep_s)
            try:
                chats = await self.inbox.orphaned(platform)
            except Exception:
                self._say_away("inbox: cannot look for %s updates left to work", platform)
                continue
            self._back()
            for chat in chats:
                self._work(platform, chat)

    def _say_away(self, message: str, *args: object) -> None:
        if not self._away:
            self._away = True
            log_failure(log, message + " (the database is away?)", *args)

    def _back(self) -> None:
        if self._away:
            self._away = False
            log.warning("inbox: the database is back")
