"""`InboundEvent`: one platform event (a message, a button press, a command) in plain data."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..storage.clean import clean_text


@dataclass(frozen=True, slots=True)
class InboundEvent:
    """What an adapter knows of one event, translated from the platform's objects.

    Ids are the platform's, as strings; an adapter makes `message_id` and `reply_to_id`
    unique within the platform (Telegram's ids are per chat: it sends `chat:message`).
    """

    platform: str
    community_id: str
    channel_id: str
    user_id: str
    user_name: str
    text: str = ""
    community_name: str = ""
    channel_name: str = ""
    is_admin: bool = False  # may change this channel's settings
    message_id: str | None = None  # the platform's id of this message
    reply_to_id: str | None = None  # the message it replies to
    replies_to_bot: bool = False  # ... and the adapter knows that one is the bot's
    reply_to_text: str | None = None  # ... and what it says, as far as the platform tells
    reply_to_author: str | None = None  # ... and who wrote it (None: unknown, or the bot)
    mentions_bot: bool = False
    is_dm: bool = False
    attachments: int = 0  # files, images, stickers: not read (yet)
    role_ids: tuple[str, ...] = ()  # the user's roles in the community (Discord)
    reply_to_user_id: str | None = None  # who wrote the message it replies to
    # the platform's own age-restricted flag for this channel (Discord's "nsfw"); None: the
    # platform has none (Telegram), so a community's admins opt in to NSFW personas
    age_restricted: bool | None = None

    def __post_init__(self) -> None:
        # Once for every platform: no NUL, no lone surrogate (a stray byte on stdin).
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and (cleaned := clean_text(value)) is not value:
                object.__setattr__(self, f.name, cleaned)

    @property
    def plausibly_addressed(self) -> bool:
        """Addressed without looking at the channel's settings (DM, mention, reply to the bot)."""
        return self.is_dm or self.mentions_bot or self.replies_to_bot
