"""`Store`: the async data layer over SQLAlchemy (SQLite with WAL by default, any async URL)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from . import schema
from .channel_cache import ChannelCache
from .clean import clean_parameters, json_dumps
from .pool import ping_when_idle, reader
from .recent import RecentHistory
from .store_types import ChannelState, DuplicateMessage, StoredMessage
from .tables import Base, Channel, Community, Message, User, utcnow

AlsoWrite = Callable[[AsyncConnection, int], Awaitable[None]]  # given a new message's id


def table(model: type[Base]) -> Table:
    """A mapped class's table, for Core statements: a turn's writes skip the ORM (its unit of
    work costs more than the write)."""
    return cast(Table, model.__table__)


_INSERT_MESSAGE = insert(table(Message))
_NEWEST_MESSAGE = (select(func.max(table(Message).c.id))
                   .where(table(Message).c.channel_id == bindparam("channel_id")))
_CHANNEL_WITH_COMMUNITY = (
    select(*table(Channel).c, Community.external_id.label("community_external"),
           Community.name.label("community_name"))
    .join(Community, Community.id == Channel.community_id)
    .where(Channel.platform == bindparam("platform"),
           Channel.external_id == bindparam("external_id")))


def _channel_state(row: Any) -> ChannelState:
    """From a `Channel` or a row of its columns."""
    return ChannelState(
        row.id, row.community_id, row.platform, row.external_id, row.name,
        row.mode, row.model_id, dict(row.weights) if row.weights else None, row.persona,
        row.lorebook_id, row.reset_after_id, bool(row.answer_all), bool(row.disclose),
    )


class Store:
    """Channel states and user ids are cached: a turn reads them without a round trip. A
    change made here is seen at once; one made by another process within `CACHE_TTL_S`."""

    CACHE_TTL_S = 5.0

    def __init__(self, url: str, *, upgrade: bool = True, busy_timeout_s: float = 30.0,
                 **engine_kwargs: Any) -> None:
        self.url = url
        self.upgrade = upgrade  # False: only check that the schema is this code's
        self.busy_timeout_s = busy_timeout_s  # SQLite: how long a write waits for the lock
        self._engine_kwargs = engine_kwargs
        self._engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._auto: AsyncEngine | None = None  # the engine in autocommit (`autocommit()`)
        self._channels: dict[tuple[str, str], tuple[ChannelState, str, float]] = {}
        self._users: dict[tuple[str, str], tuple[int, str]] = {}
        self._names: dict[int, str] = {}  # user id -> display name, for cached history
        self._writing: asyncio.Lock | None = None  # SQLite: this process's writers in turn
        self.recent = RecentHistory(self.CACHE_TTL_S)
        self.cached = ChannelCache(self.CACHE_TTL_S)  # memory summaries, pinned facts

    def _cached_channel(self, platform: str, channel_id: str) -> ChannelState | None:
        hit = self._channels.get((platform, channel_id))
        if hit is None or hit[2] < time.monotonic():
            return None
        return hit[0]

    def _remember(self, state: ChannelState, community_name: str = "") -> ChannelState:
        if len(self._channels) > 50_000:
            self._channels.clear()
        self._channels[(state.platform, state.external_id)] = (
            state, community_name, time.monotonic() + self.CACHE_TTL_S)
        return state

    @property
    def engine(self) -> AsyncEngine:
        if self._engine is None:
            raise RuntimeError("Store.open() was not called")
        return self._engine

    async def open(self) -> None:
        """Connect, after bringing the schema up to date (`upgrade`) or checking it is
        (`schema.SchemaError` says what is wrong)."""
        url = schema.parse_url(self.url)
        kwargs = dict(self._engine_kwargs)
        if url.get_backend_name() == "postgresql" and url.get_driver_name() == "asyncpg":
            # asyncpg prepares every statement; a plan PostgreSQL made generic while a table
            # was small (an import's first IN-list lookups) would scan it in full once it is
            # big. Custom plans see each lookup's real size.
            args = dict(kwargs.get("connect_args", {}))
            args["server_settings"] = {"plan_cache_mode": "force_custom_plan",
                                       **args.get("server_settings", {})}
            kwargs["connect_args"] = args
        engine = create_async_engine(url, **{"json_serializer": json_dumps, **kwargs})
        event.listen(engine.sync_engine, "before_cursor_execute", clean_parameters,
                     retval=True)  # no NUL or lone surrogate reaches any database
        sqlite = url.get_backend_name() == "sqlite"
        self._writing = asyncio.Lock() if sqlite else None
        if sqlite:
            event.listen(engine.sync_engine, "connect", schema.sqlite_pragmas(self.busy_timeout_s))
        else:
            ping_when_idle(engine)
        try:
            await schema.prepare(self.url, self._engine_kwargs, upgrade=self.upgrade,
                                 busy_timeout_s=self.busy_timeout_s,
                                 memory=engine if sqlite and not schema.sqlite_file(url) else None)
        except BaseException:
            await engine.dispose()
            raise
        self._engine = engine
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)
        # in process, SQLite's BEGIN and ROLLBACK cost no round trip: its reads stay as they are
        self._auto = engine if sqlite else reader(engine)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    def writing(self) -> contextlib.AbstractAsyncContextManager[object]:
        """Held around a turn's write. SQLite takes one writer at a time: the writers of this
        process wait their turn here, in order, instead of in SQLite's busy handler (which
        sleeps, up to 100 ms a time, so a burst of turns would wait on each other's sleeps)."""
        return self._writing if self._writing is not None else contextlib.nullcontext()

    def session(self) -> AsyncSession:
        if self._sessions is None:
            raise RuntimeError("Store.open() was not called")
        return self._sessions()

    def autocommit(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        """A connection for reads, or for a write of a single statement, committed as the
        block ends. On PostgreSQL its statements run in autocommit: one round trip each, no
        BEGIN and COMMIT around them (`bot.storage.pool`). Not for several writes that belong
        together, nor `FOR UPDATE`. On SQLite, an ordinary transaction (in process, cheap); a
        write there still takes `writing()` first. Core, not the ORM: a session's upkeep costs
        more than the statement."""
        if self._auto is None:
            raise RuntimeError("Store.open() was not called")
        return self._auto.begin()

    async def _get_or_create(self, model: type[Base], lookup: dict[str, Any],
                             values: dict[str, Any]) -> Any:
        async with self.session() as s:
            row = await s.scalar(select(model).filter_by(**lookup))
            if row is not None:
                changed = {k: v for k, v in values.items() if v and getattr(row, k) != v}
                if changed:
                    for k, v in changed.items():
                        setattr(row, k, v)
                    await s.commit()
                return row
            row = model(**lookup, **values)
            s.add(row)
            try:
                await s.commit()
                return row
            except IntegrityError:  # created concurrently by another task or process
                await s.rollback()
        async with self.session() as s:
            return (await s.scalars(select(model).filter_by(**lookup))).one()

    async def ensure_channel(
        self,
        platform: str,
        community_id: str,
        community_name: str,
        channel_id: str,
        channel_name: str,
    ) -> ChannelState:
        hit = self._channels.get((platform, channel_id))
        if (hit is not None and hit[2] >= time.monotonic() and hit[0].name == channel_name
                and hit[1] == community_name):
            return hit[0]
        async with self.autocommit() as conn:  # as stored, names unchanged: one read
            row = (await conn.execute(_CHANNEL_WITH_COMMUNITY, {
                "platform": platform, "external_id": channel_id})).first()
        if (row is not None and row.name == channel_name
                and (row.community_external, row.community_name) == (community_id,
                                                                     community_name)):
            return self._remember(_channel_state(row), community_name)
        community = await self._get_or_create(
            Community, {"platform": platform, "external_id": community_id},
            {"name": community_name},
        )
        channel = await self._get_or_create(
            Channel, {"platform": platform, "external_id": channel_id},
            {"name": channel_name, "community_id": community.id},
        )
        return self._remember(_channel_state(channel), community_name)

    async def find_channel(self, platform: str, channel_id: str) -> ChannelState | None:
        cached = self._cached_channel(platform, channel_id)
        if cached is not None:
            return cached
        async with self.session() as s:
            query = select(Channel).filter_by(platform=platform, external_id=channel_id)
            row = await s.scalar(query)
            return _channel_state(row) if row else None

    async def update_channel(self, channel_id: int, **values: Any) -> ChannelState:
        """Set settings (`mode`, `model_id`, `weights`, `persona`, `lorebook_id`) of a channel."""
        allowed = {"mode", "model_id", "weights", "persona", "lorebook_id", "name",
                   "answer_all", "disclose"}
        bad = set(values) - allowed
        if bad:
            raise ValueError(f"not a channel setting: {', '.join(sorted(bad))}")
        async with self.session() as s:
            await s.execute(update(Channel).where(Channel.id == channel_id).values(**values))
            await s.commit()
            state = _channel_state(await s.get_one(Channel, channel_id, populate_existing=True))
        hit = self._channels.get((state.platform, state.external_id))
        return self._remember(state, hit[1] if hit else "")

    async def ensure_user(self, platform: str, user_id: str, display_name: str) -> int:
        hit = self._users.get((platform, user_id))
        if hit is not None and hit[1] == display_name:
            return hit[0]
        user = await self._get_or_create(
            User, {"platform": platform, "external_id": user_id}, {"display_name": display_name}
        )
        if len(self._users) > 100_000:
            self._users.clear()
        self._users[(platform, user_id)] = (int(user.id), display_name)
        self._names[int(user.id)] = display_name
        return int(user.id)

    async def add_message(self, channel_id: int, role: str, text: str, *,
                          also: Sequence[AlsoWrite] = (), **fields: Any) -> int:
        """Store one message and commit before returning its id: one transaction, with the
        writes of `also` (given the new id) in it.

        Raises `DuplicateMessage` when `platform_message_id` is already stored in the channel.
        """
        values = {"channel_id": channel_id, "role": role, "text": text,
                  "created_at": fields.pop("created_at", None) or utcnow(), **fields}
        # a user's message starts a turn: is the history this process keeps still the newest?
        # (a reply follows its own turn's message, and one chat's turns take turns)
        kept = self.recent.newest(channel_id) if role == "user" else None
        before = kept
        # alone, its statements need no transaction around them (on PostgreSQL, two round trips
        # fewer); one wraps it with the writes of `also`
        try:
            async with self.writing(), (self.engine.begin() if also else self.autocommit()
                                        ) as conn:
                if kept is not None:  # another process (a webhook worker) may have written
                    before = await conn.scalar(_NEWEST_MESSAGE, {"channel_id": channel_id})
                inserted = await conn.execute(_INSERT_MESSAGE, values)
                message_id = int(inserted.inserted_primary_key[0])  # type: ignore[index]
                for write in also:
                    await write(conn, message_id)
        except IntegrityError as exc:
            if fields.get("platform_message_id") is None or also:
                raise
            raise DuplicateMessage(fields["platform_message_id"]) from exc
        user_id = fields.get("user_id")
        author = self._names.get(user_id) if user_id is not None else None
        if before != kept:  # it wrote here meanwhile: read the channel again
            self.forget(channel_id)
        elif user_id is not None and author is None:
            self.recent.forget(channel_id)
        else:
            self.recent.append(channel_id, StoredMessage(
                message_id, role, text, values["created_at"], author, fields.get("model_id"),
                fields.get("mode"), fields.get("prompt_tokens"),
                fields.get("completion_tokens"), fields.get("latency_ms"), user_id))
        return message_id

    async def has_message(self, channel_id: int, platform_message_id: str) -> bool:
        """Whether the platform message `platform_message_id` is stored in the channel."""
        async with self.autocommit() as conn:
            found = await conn.scalar(select(Message.id).where(
                Message.channel_id == channel_id,
                Message.platform_message_id == platform_message_id).limit(1))
        return found is not None

    async def reset_channel(self, channel_id: int) -> None:
        """Start the conversation afresh; earlier messages stay stored for analytics."""
        async with self.session() as s:
            last = await s.scalar(
                select(func.max(Message.id)).where(Message.channel_id == channel_id)
            )
            await s.execute(
                update(Channel).where(Channel.id == channel_id).values(reset_after_id=last or 0)
            )
            await s.commit()
        self._channels = {k: v for k, v in self._channels.items() if v[0].id != channel_id}
        self.forget(channel_id)

    def forget(self, channel_id: int | None = None) -> None:
        """Read this channel's (or every channel's) history, summary and facts from the
        database next time: after a write that changes them elsewhere than here."""
        self.recent.forget(channel_id)
        self.cached.forget(channel_id)

    def forget_cached(self) -> None:
        """Drop every cached channel, user and history (after a deletion)."""
        self._channels.clear()
        self._users.clear()
        self._names.clear()
        self.forget()

    async def history(
        self, channel_id: int, limit: int | None = None, *, since_reset: bool = True
    ) -> list[StoredMessage]:
        """The channel's conversation, oldest first (the newest `limit` if given).

        With `since_reset` (the default) only messages after the last reset are returned.
        """
        if since_reset and (cached := self.recent.get(channel_id, limit)) is not None:
            return cached
        m = Message
        query = (  # plain columns, no ORM objects: a turn reads the whole recent history
            select(m.id, m.role, m.text, m.created_at, User.display_name, m.model_id, m.mode,
                   m.prompt_tokens, m.completion_tokens, m.latency_ms, m.user_id)
            .outerjoin(User, Message.user_id == User.id)
            .where(Message.channel_id == channel_id, Message.replaced_by_id.is_(None))
            .order_by(Message.id.desc())
        )
        if since_reset:
            marker = (
                select(func.coalesce(Channel.reset_after_id, 0))
                .where(Channel.id == channel_id)
                .scalar_subquery()
            )
            query = query.where(Message.id > marker)
        if limit is not None:
            query = query.limit(limit)
        async with self.autocommit() as conn:
            rows = (await conn.execute(query)).all()
        messages = [StoredMessage(r.id, r.role, r.text, r.created_at, r.display_name,
                                  r.model_id, r.mode, r.prompt_tokens, r.completion_tokens,
                                  r.latency_ms, r.user_id) for r in reversed(rows)]
        if since_reset:
            self.recent.put(channel_id, messages, limit)
        return messages
