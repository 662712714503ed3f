"""Database tables (SQLAlchemy 2 declarative). The schema itself is made by Alembic migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime; use UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Community(Base):
    """A Discord guild, a Telegram group, or a private chat (its own community)."""

    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # weekly report: where (a channel id on the platform), and when (cron in its timezone)
    report_channel: Mapped[str | None] = mapped_column(String(64), default=None)
    report_weekday: Mapped[str] = mapped_column(String(3), default="mon")
    report_hour: Mapped[int] = mapped_column(Integer, default=9)
    report_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # NSFW personas where the platform has no age-restricted flag (Telegram): admins opt in
    allow_nsfw: Mapped[bool] = mapped_column(Boolean, default=False)
    # the bot was removed (its data goes after `community_grace_days` unless it comes back)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Channel(Base):
    """One conversation history, with its blend settings."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="")
    mode: Mapped[str | None] = mapped_column(String(16), default=None)  # None: the default
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    weights: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    persona: Mapped[str | None] = mapped_column(String(100), default=None)  # a persona ref
    lorebook_id: Mapped[int | None] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="SET NULL"), default=None
    )
    reset_after_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    answer_all: Mapped[bool] = mapped_column(Boolean, default=False)  # not only mentions
    disclose: Mapped[bool] = mapped_column(Boolean, default=False)  # name the model
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PersonaRow(Base):
    """A character card imported by an admin (bundled personas are not stored)."""

    __tablename__ = "personas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    spec: Mapped[str] = mapped_column(String(32))  # the spec it was imported from
    card: Mapped[dict[str, Any]] = mapped_column(JSON)  # V2 JSON object
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LorebookRow(Base):
    """A standalone lorebook (SillyTavern World Info) that channels can attach."""

    __tablename__ = "lorebooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    book: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Message(Base):
    """Every message: user turns with their author, bot replies with the model that wrote them."""

    __tablename__ = "messages"
    __table_args__ = (Index("ux_messages_channel_platform_message", "channel_id",
                            "platform_message_id", unique=True),
                      Index("ix_messages_owed", "owed_until",
                            postgresql_where=text("owed_until IS NOT NULL"),
                            sqlite_where=text("owed_until IS NOT NULL")))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    mode: Mapped[str | None] = mapped_column(String(16), default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    replaced_by_id: Mapped[int | None] = mapped_column(BigInteger, default=None)  # regenerated
    external_id: Mapped[str | None] = mapped_column(String(64), default=None)  # imported id
    # the platform's id of a user message: a redelivered message is recognised by it
    platform_message_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # replies the loop guard refused (repeats, degenerate text) before this one was sent
    loop_redraws: Mapped[int] = mapped_column(Integer, default=0)
    # a user's message the bot owes a reply: the turn answering it holds it until then (a
    # lease its process renews); one whose lease lapsed is answered by another process
    owed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    # the platform message showing that turn's preview: the turn that takes over edits it
    owed_preview: Mapped[str | None] = mapped_column(String(64), default=None)
    # the reply stored for it that its turn had not shown yet: a turn that takes over shows it
    owed_reply: Mapped[int | None] = mapped_column(BigInteger, default=None)


class SettingChange(Base):
    """A channel's blend mode or persona changed (for comparing modes in reports)."""

    __tablename__ = "setting_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    setting: Mapped[str] = mapped_column(String(16))  # mode | persona
    value: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Feedback(Base):
    """👍, 👎 or regenerate on one bot reply, tied to the model that wrote it."""

    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # up | down | regenerate
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(Base):
    """A platform message that carries (part of) a stored message: for reactions and edits."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("platform", "platform_message_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[str] = mapped_column(String(16))
    platform_message_id: Mapped[str] = mapped_column(String(64))
    part: Mapped[int] = mapped_column(Integer, default=0)


class CandidateRow(Base):
    """One candidate of a ranked reply (`best_of_n`, `fuse`), with its rank (1 = best) and
    ranker score; `message_id` is the reply that was sent."""

    __tablename__ = "candidates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    completion_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RollupUserDay(Base):
    """One user's activity on one day (in the community's timezone) within one scope.

    `scope` is "" for all of the community's messages, or "mode:NAME" for the messages
    written while their channel had that blend mode. Sessions count on the day they start.
    Rebuilt per user from `messages` (see `bot.storage.rollups`); never edited by hand.
    """

    __tablename__ = "rollup_user_days"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # date.toordinal()
    messages: Mapped[int] = mapped_column(Integer, default=0)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    minutes: Mapped[float] = mapped_column(Float, default=0.0)


class RollupReplyDay(Base):
    """One channel's replies by one model on one day, under one mode, and what followed.

    `late_*` count the replies whose continuation window runs past the end of their day: a
    report ending at that day's end does not judge them.
    """

    __tablename__ = "rollup_reply_days"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(100), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    replies: Mapped[int] = mapped_column(Integer, default=0)
    judged: Mapped[int] = mapped_column(Integer, default=0)
    continued: Mapped[int] = mapped_column(Integer, default=0)
    late_judged: Mapped[int] = mapped_column(Integer, default=0)
    late_continued: Mapped[int] = mapped_column(Integer, default=0)
    thumbs_up: Mapped[int] = mapped_column(Integer, default=0)
    thumbs_down: Mapped[int] = mapped_column(Integer, default=0)
    regenerated: Mapped[int] = mapped_column(Integer, default=0)


class RollupChannelDay(Base):
    """Users' messages in one channel on one day under one mode (channels per mode)."""

    __tablename__ = "rollup_channel_days"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mode: Mapped[str] = mapped_column(String(100), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class RollupState(Base):
    """How far a community's rollups are up to date: the newest row ids folded in."""

    __tablename__ = "rollup_state"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    message_id: Mapped[int] = mapped_column(BigInteger, default=0)
    feedback_id: Mapped[int] = mapped_column(Integer, default=0)
    setting_id: Mapped[int] = mapped_column(Integer, default=0)


class RollupDirty(Base):
    """A channel or user whose rollups a deletion made stale (refreshed at the next catch-up)."""

    __tablename__ = "rollup_dirty"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(Integer, default=None)
    user_id: Mapped[int | None] = mapped_column(Integer, default=None)


class ReportRun(Base):
    """One community's report for one period (its due time): claimed, leased, then sent.

    `status` is "claimed" (a process holds it until `lease_until`), "sent" (the platform
    accepted it) or "skipped" (the period was due before the report was set up).
    """

    __tablename__ = "report_runs"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    period: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    owner: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class InboxUpdate(Base):
    """A platform update recorded before the platform was told it arrived (a Telegram
    webhook answers 200 only after this row is committed); `done_at` once processed."""

    __tablename__ = "inbox_updates"
    __table_args__ = (UniqueConstraint("platform", "update_id", name="uq_inbox_update"),
                      Index("ix_inbox_open", "platform", "chat", "done_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(16))
    update_id: Mapped[int] = mapped_column(BigInteger)
    chat: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class InboxChat(Base):
    """Which process works through one chat's recorded updates now (until `lease_until`)."""

    __tablename__ = "inbox_chats"

    platform: Mapped[str] = mapped_column(String(16), primary_key=True)
    chat: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class MemorySummary(Base):
    """A rolling summary of a channel's turns that no longer fit its smallest member's
    context: it covers messages `first_message_id`..`last_message_id` (`turns` of them)."""

    __tablename__ = "memory_summaries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    first_message_id: Mapped[int] = mapped_column(BigInteger)
    last_message_id: Mapped[int] = mapped_column(BigInteger)
    turns: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    model_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemoryFact(Base):
    """A pinned fact: of a channel (`user_id` None, pinned by an admin) or of one user
    (`user_id`, in every prompt where that user talks)."""

    __tablename__ = "memory_facts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), index=True, default=None)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True, default=None)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LearnedArm(Base):
    """The `learned` mode's evidence for one member in one community: discounted wins and
    losses as of the community's `step`-th reply (`engines.bandit`)."""

    __tablename__ = "learned_arms"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    wins: Mapped[float] = mapped_column(Float, default=0.0)
    losses: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[int] = mapped_column(Integer, default=0)  # the community's replies so far


class AccessRule(Base):
    """Who may talk to the bot: an allow or deny entry for a user or (Discord) a role, for a
    whole community (`channel_id` None) or one channel of it."""

    __tablename__ = "access_rules"
    __table_args__ = (UniqueConstraint("community_id", "channel_id", "effect", "kind",
                                       "subject"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="CASCADE"), default=None)
    effect: Mapped[str] = mapped_column(String(8))  # allow | deny
    kind: Mapped[str] = mapped_column(String(8))  # user | role
    subject: Mapped[str] = mapped_column(String(64))  # the platform's user or role id
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ModerationRule(Base):
    """A community's built-in moderation entry: a word (whole word, any case) or a regex."""

    __tablename__ = "moderation_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # word | regex
    pattern: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SafetySettings(Base):
    """A community's admin-set safety settings: the mod-log and its daily token budgets
    (None: the config's default)."""

    __tablename__ = "safety_settings"

    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    modlog_channel: Mapped[str | None] = mapped_column(String(64), default=None)
    modlog_text: Mapped[bool] = mapped_column(Boolean, default=False)  # quote the text
    user_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    community_tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    role_tokens: Mapped[dict[str, int] | None] = mapped_column(JSON, default=None)


class TokenUsage(Base):
    """Tokens one user's turns cost one model in one community on one UTC day, and their
    price by the model's `price_*_per_1k`."""

    __tablename__ = "token_usage"

    day: Mapped[int] = mapped_column(Integer, primary_key=True)  # date.toordinal(), UTC
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)


class ExperimentRow(Base):
    """An A/B experiment of one community: its arms (`[{"arm", "mode", "model"}]`, in the
    order given), when it started and when it ends (`ends_at`: its planned end; `stopped_at`:
    stopped early, or imported as a record only)."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("community_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    community_id: Mapped[int] = mapped_column(
        ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    arms: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)


class Assignment(Base):
    """A user's arm in an experiment, fixed on first sight (`channel_id`: where)."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (UniqueConstraint("experiment_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id", ondelete="CASCADE"))
    arm: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
