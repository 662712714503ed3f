"""Replies owed by turns that died: each process holds the messages it is answering (a lease
it renews), and answers the ones whose holder died (their lease lapsed) — see
`bot.storage.owed` for the rules.

A platform's redelivery of such a message reaches the core as usual and is claimed there
(`RecordMessage`); a platform that does not redeliver (Discord, after a process is killed)
is swept: `serve` looks every few seconds for lapsed, recent messages of the communities this
process serves and hands each to the adapter's `resend(channel, message)`, which fetches it
from the platform and feeds it to the core like a new delivery.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime

from ..logs import log_failure
from ..storage import Store
from ..storage.owed import Claimed, OwedReplies, ReadBack, StoredReply
from ..storage.store import AlsoWrite

log = logging.getLogger(__name__)
LEASE_S = 10.0  # renewed every LEASE_S / 3; shorter than the inbox's chat lease (30 s)
SWEEP_S = 3.0  # how often lapsed messages are looked for
CLAIM_POLL_S = 0.5  # how often a redelivery of a held message looks whether its lease lapsed
RECENT_S = 900.0  # older ones are not answered any more (the conversation moved on)
SETTLE_EVERY_S = 0.1  # replies shown within this are settled together (one statement)
UNNOTED_KEPT = 10_000  # previews that could not be noted, remembered in this process
Resend = Callable[[str, str], Awaitable[bool]]  # (channel, message) -> False: it is gone


class OwedTurns:
    def __init__(self, store: Store, lease_s: float = LEASE_S) -> None:
        self.replies = OwedReplies(store)
        self.lease_s = lease_s
        self._held: set[int] = set()
        self._renewer: asyncio.Task[None] | None = None
        self._shown: set[int] = set()  # held messages whose reply shows, to settle
        self._settler: asyncio.Task[None] | None = None
        self._resending: set[tuple[str, str]] = set()
        self._away = False
        # previews this process showed but could not note (the database was away): a takeover
        # here writes into them all the same (message id -> platform id, oldest first)
        self._unnoted: dict[int, str] = {}

    def until(self) -> datetime:
        """The lease a newly recorded message starts with."""
        return self.replies.lease(self.lease_s)

    def hold(self, message_id: int) -> None:
        self._held.add(message_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._renew(), name="owed-renew")

    def release(self, message_id: int) -> None:
        self._held.discard(message_id)

    async def claim(self, channel_id: int, platform_message_id: str) -> Claimed | None:
        """The message, the dead turn's preview to write the reply into and the reply it
        stored but did not show; or None: it is answered, or still held by a live turn after
        waiting up to 1.5 leases (its holder may have just died: a fresh session reads a
        channel back before the lease lapses)."""
        deadline = asyncio.get_running_loop().time() + 1.5 * self.lease_s
        while True:
            got = await self.replies.claim(channel_id, platform_message_id, self.lease_s)
            if got is not None:
                unnoted = self._unnoted.pop(got.message_id, None)
                return replace(got, preview=got.preview or unnoted)
            held = await self.replies.held(channel_id, platform_message_id)
            if held is None or held in self._held:  # answered, or being answered here
                return None
            if asyncio.get_running_loop().time() > deadline:
                return None
            log.info("message %s is held by a turn elsewhere: waiting for its lease",
                     platform_message_id)
            await asyncio.sleep(CLAIM_POLL_S)

    def noting_preview(self, message_id: int) -> Callable[[str], Awaitable[None]]:
        """For the live preview: where it shows, so a turn that takes over edits it."""

        async def shown(preview: str) -> None:
            try:
                await self.replies.shown(message_id, preview)
            except Exception:  # a takeover elsewhere sends a new message beside the preview
                log_failure(log, "could not note the preview of owed message %s", message_id)
                self._unnoted[message_id] = preview
                while len(self._unnoted) > UNNOTED_KEPT:
                    del self._unnoted[next(iter(self._unnoted))]
        return shown

    async def found_preview(self, platform: str, channel: str, message: str,
                            preview: str) -> None:
        try:
            if await self.replies.found_preview(platform, channel, message, preview):
                log.info("message %s: the dead turn's preview %s is written into", message,
                         preview)
        except Exception:  # a takeover then sends a new message beside the old preview
            log_failure(log, "could not note the preview of owed message %s", message)

    def noting_reply(self, channel_id: int, message_id: int) -> AlsoWrite:
        """For the reply's transaction (see `OwedReplies.noted_with_reply`)."""
        return self.replies.noted_with_reply(channel_id, message_id)

    async def stored_reply(self, reply_id: int) -> StoredReply | None:
        return await self.replies.stored_reply(reply_id)

    async def settle(self, message_id: int) -> None:
        """The turn of this held message ended without a reply (released)."""
        self.release(message_id)
        try:
            await self.replies.settle([message_id])
        except Exception:  # its lease lapses; another turn may then answer it
            log_failure(log, "could not settle owed message %s", message_id)

    def shown(self, message_id: int) -> None:
        """The reply to this held message shows: it is settled within SETTLE_EVERY_S, with
        the others shown meanwhile (held until then: killed before, a takeover finds its
        reply shown and leaves it)."""
        self._shown.add(message_id)
        if self._settler is None or self._settler.done():
            self._settler = asyncio.create_task(self._settle_shown(), name="owed-settle")

    async def _settle_shown(self) -> None:
        while self._shown:
            await asyncio.sleep(SETTLE_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        """Settle the messages whose reply shows now (at shutdown, too)."""
        batch, self._shown = sorted(self._shown), set()
        if not batch:
            return
        try:
            await self.replies.settle(batch)
        except Exception:  # their leases lapse; a takeover finds each reply shown
            log_failure(log, "could not settle %d answered messages", len(batch))
        self._held.difference_update(batch)

    async def _renew(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.replies.renew(sorted(self._held), self.lease_s)
            except Exception:
                log_failure(log, "could not renew %d owed replies", len(self._held))

    async def serve(self, platform: str, mine: Callable[[str], bool], resend: Resend,
                    every: float = SWEEP_S) -> None:
        """Until cancelled: answer `platform`'s lapsed messages in communities `mine`."""
        while True:
            await asyncio.sleep(every)
            await self.sweep(platform, mine, resend)

    async def sweep(self, platform: str, mine: Callable[[str], bool], resend: Resend) -> int:
        """One look: how many lapsed messages were handed to `resend`."""
        try:
            lapsed = await self.replies.lapsed(platform, RECENT_S)
        except Exception:
            if not self._away:
                self._away = True
                log_failure(log, "cannot look for owed replies (the database is away?)")
            return 0
        self._away = False
        todo = [m for m in lapsed if mine(m.community_id)
                and (m.channel_id, m.message_id) not in self._resending]
        if todo:
            log.warning("answering %d messages whose turn died", len(todo))
        channels: dict[str, list[str]] = {}  # each channel's, oldest first
        for m in todo:
            channels.setdefault(m.channel_id, []).append(m.message_id)

        async def in_order(channel: str, messages: list[str]) -> None:
            for message in messages:
                await self._resend(platform, resend, channel, message)
        await asyncio.gather(*(in_order(c, ms) for c, ms in channels.items()))
        return len(todo)

    async def behind(self, platform: str, mine: Callable[[str], bool],
                     community: str | None = None) -> list[ReadBack]:
        """The recent channels of the communities `mine` (of `community` alone, if given),
        each with where a fresh session (the platform does not replay what was sent while
        this process was away) reads it back from: its oldest owed message, else its newest
        stored one."""
        try:
            recent = await self.replies.recent_channels(platform, RECENT_S, community)
        except Exception:
            log_failure(log, "cannot catch up %s (the database is away?)", platform)
            return []
        return [c for c in recent if mine(c.community_id)]

    async def _resend(self, platform: str, resend: Resend, channel: str, message: str) -> None:
        key = (channel, message)
        self._resending.add(key)
        try:
            if not await resend(channel, message):
                with contextlib.suppress(Exception):
                    await self.replies.settle_by_id(channel, platform, message)
        except Exception:
            log_failure(log, "could not answer owed message %s in %s", message, channel)
        finally:
            self._resending.discard(key)
