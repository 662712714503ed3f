"""Catching up after a fresh gateway session.

Discord replays missed events only on a RESUME. A process that was killed (or whose resume
failed) identifies anew, and what was said meanwhile — including messages dispatched to the
dead process that it never read — never arrives. So when a guild becomes available on a
fresh session, its recently active channels are read back over REST — from the oldest
message still owed a reply (its turn died), else after the newest stored one — and handed to
the core oldest first (the core recognises the ones it has and takes over the owed ones,
writing into the bot's own answer to one, if the dead turn had begun to show it).
Until that is done the guild's new messages wait, so each channel's messages reach the core
in the order they were sent (and no message is handled before its guild is cached).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

import discord

from ...conversation import Conversations
from .output import PLATFORM

log = logging.getLogger(__name__)
WAIT_S = 30.0  # a new message waits at most this long for its guild's catch-up
AT_ONCE = 8  # channels read back at once
HISTORY_LIMIT = 100  # messages read back per channel (older ones are left unanswered)

Handle = Callable[[discord.Message], Coroutine[Any, Any, None]]
# community -> (channel, read after this message, whether the channel owes a reply)
Behind = dict[str, list[tuple[str, str, bool]]]


class CatchUp:
    def __init__(self, client: discord.AutoShardedClient, core: Conversations,
                 handle: Handle) -> None:
        self.client, self.core, self.handle = client, core, handle
        self._gates: dict[int, asyncio.Event] = {}  # guild id -> set once caught up
        self._behind: dict[int, asyncio.Task[Behind]] = {}
        self._reading = asyncio.Semaphore(AT_ONCE)
        self._tasks: set[asyncio.Task[None]] = set()  # caught-up messages being handled
        self._lookups: set[asyncio.Task[Behind]] = set()  # running
        self._late: set[int] = set()  # guilds whose catch-up outlasted WAIT_S (said once)

    # ---- the session's events ----------------------------------------------------------

    def connected(self, shard_id: int) -> None:
        """A fresh session (READY) of `shard_id`: its guilds' messages wait from now on, and
        the channels to read back are looked up."""
        for guild in self.client.guilds:
            if guild.shard_id == shard_id:
                self._gates.setdefault(guild.id, asyncio.Event())
        if shard_id in self._behind:
            self._behind[shard_id].cancel()
        self._behind[shard_id] = self._start_lookup(shard_id)

    async def guild_available(self, guild: discord.Guild) -> None:
        """Read back the guild's recent channels, then let its new messages through. A guild
        that comes back later in the session (after an outage: Discord sent nothing of what
        was said meanwhile) is looked up on its own, its new messages waiting meanwhile."""
        try:
            lookup = self._behind.get(guild.shard_id)
            if lookup is None:
                self._gates.setdefault(guild.id, asyncio.Event())
                lookup = self._start_lookup(guild.shard_id, str(guild.id))
            behind = await asyncio.shield(lookup)
            await asyncio.gather(*(self._read_back(*channel)
                                   for channel in behind.get(str(guild.id), [])))
        except Exception:
            log.exception("could not catch up guild %s", guild.id)
        finally:
            self._open(guild.id)

    async def shard_ready(self, shard_id: int) -> None:
        """The shard's guilds are in: direct messages (shard 0's) are read back, and guilds
        that never became available stop holding their messages."""
        lookup = self._behind.pop(shard_id, None)
        if lookup is not None and shard_id == 0:
            with contextlib.suppress(Exception):
                behind = await lookup
                await asyncio.gather(*(self._read_back(*channel)
                                       for community, channels in behind.items()
                                       if community.startswith("dm-")
                                       for channel in channels))
        for guild in self.client.guilds:
            if guild.shard_id == shard_id:
                self._open(guild.id)

    async def passed(self, guild_id: int | None) -> None:
        """Wait while `guild_id` is being caught up (at most WAIT_S)."""
        gate = self._gates.get(guild_id) if guild_id is not None else None
        if gate is None or guild_id is None:
            return
        try:
            await asyncio.wait_for(gate.wait(), WAIT_S)
        except TimeoutError:
            if guild_id not in self._late:  # once per catch-up, not per waiting message
                self._late.add(guild_id)
                log.warning("guild %s: reading back what was missed takes over %.0f s; its "
                            "new messages go ahead", guild_id, WAIT_S)

    async def close(self) -> None:
        """The lookups and read-backs still running are cancelled and waited for, so none is
        left holding a database session when the process closes its store."""
        tasks: list[asyncio.Task[Any]] = [*self._lookups, *self._tasks]
        self._behind.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for guild_id in list(self._gates):
            self._open(guild_id)

    # ---- the work --------------------------------------------------------------------

    def _open(self, guild_id: int) -> None:
        self._late.discard(guild_id)
        gate = self._gates.pop(guild_id, None)
        if gate is not None:
            gate.set()

    def _start_lookup(self, shard_id: int, community: str | None = None
                      ) -> asyncio.Task[Behind]:
        task = asyncio.create_task(self._lookup(shard_id, community),
                                   name=f"catch-up-{community or shard_id}")
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)
        return task

    def _shard_of(self, community_id: str) -> int:
        if not community_id.isdigit():
            return 0  # a DM
        return (int(community_id) >> 22) % (self.client.shard_count or 1)

    async def _lookup(self, shard_id: int, community: str | None = None
                      ) -> Behind:
        """The channels to read back of the shard's communities (or of one `community`)."""
        behind: Behind = defaultdict(list)
        for c in await self.core.behind(PLATFORM, lambda cid: self._shard_of(cid) == shard_id,
                                        community):
            after = int(c.message_id) - 1 if c.including else int(c.message_id)
            behind[c.community_id].append((c.channel_id, str(after), c.including))
        if behind:
            log.info("shard %s: reading back %d recent channels", shard_id,
                     sum(map(len, behind.values())))
        return behind

    def _answers(self, messages: list[discord.Message]) -> dict[str, str]:
        """The bot's own first message among `messages` answering each message: a killed
        turn's unfinished preview, or its reply shown just before it died. The core notes it
        for the message if that is still owed, and a turn that takes over writes into it."""
        me = self.client.user
        found: dict[str, str] = {}
        for m in messages:
            if (me is not None and m.author.id == me.id and m.reference is not None
                    and m.reference.message_id is not None):
                found.setdefault(str(m.reference.message_id), str(m.id))
        return found

    async def _read_back(self, channel_id: str, after: str, owes: bool) -> None:
        """The channel's messages after `after`, handed to the core in order: each one's turn
        is started before the channel's next message (new ones included) can take its place."""
        async with self._reading:
            try:
                channel: Any = (self.client.get_channel(int(channel_id))
                                or await self.client.fetch_channel(int(channel_id)))
                missed = [m async for m in channel.history(
                    limit=HISTORY_LIMIT, after=discord.Object(int(after)), oldest_first=True)]
            except (discord.NotFound, discord.Forbidden):
                return  # the channel is gone, or the bot may no longer read it
        for message, preview in (self._answers(missed) if owes else {}).items():
            await self.core.found_preview(PLATFORM, channel_id, message, preview)
        for message in missed:
            task = asyncio.create_task(self.handle(message), name="caught-up")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        await asyncio.sleep(0)  # the turns take their place in the channel's queue
