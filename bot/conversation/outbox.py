"""What the core needs from a platform to show a reply: `Outbox` calls and `PlatformLimits`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .pacing import Budget


class RetryLater(Exception):
    """The platform asked to wait (HTTP 429 `retry_after`) before the next call."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:g} s")
        self.seconds = seconds


class SendError(Exception):
    """A platform call failed for good (the adapter keeps the details in its log)."""


@dataclass(frozen=True, slots=True)
class PlatformLimits:
    """A platform's rules, as numbers and formats: the core splits and paces by them."""

    max_chars: int  # longest message, as `count` measures it
    edit_interval_s: float = 1.0  # between streaming edits of one reply
    count: Callable[[str], int] = len  # e.g. UTF-16 code units on Telegram
    budgets: tuple[Budget, ...] = ()  # sends + edits shared by every reply of the process
    footer: str = "— {model}"  # the disclosure line under a reply
    writing: str = " …"  # after a streamed preview: more is coming
    stream: bool = True  # show previews while the model writes
    typing_every_s: float = 4.0  # how long one "typing…" indication lasts
    unping: bool = False  # `@name` in a reply would notify someone (Telegram): neutralise it


class Outbox(Protocol):
    """Platform calls for one conversation (a channel, thread, chat or topic).

    `send` returns the platform's id of the new message in the same form as inbound ids.
    Calls raise `RetryLater` when the platform asks to wait and `SendError` when they fail.
    """

    @property
    def limits(self) -> PlatformLimits: ...

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str: ...

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None: ...

    async def delete(self, message_id: str) -> None: ...

    async def typing(self) -> None:
        """Show "typing…" once (the core repeats it while the model writes)."""
        ...

    async def notify(self, text: str) -> None:
        """A short note for the user who acted (a button press): private where possible."""
        ...
