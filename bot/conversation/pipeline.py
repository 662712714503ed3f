"""One turn's way through the core: an ordered list of stages, each wrapping the rest.

A stage is `async def __call__(turn, rest)`: it may do something before and after the
rest of the pipeline (`await rest(turn)`), or end the turn by not calling it, after
`turn.end(...)` says why. The outermost stages render whatever the turn ended with.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from engines import BlendSettings, Generation, ReplyRequest

from ..storage import ChannelState, StoredMessage
from ..storage.store import AlsoWrite
from .inbound import InboundEvent
from .outbox import Outbox
from .render import LivePreview

OutcomeKind = Literal["ignored", "reply", "notice", "error"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a turn ended. `reply`: a stored reply; `notice`: a polite refusal or hint;
    `error`: an apology; `ignored`: nothing was shown (not addressed, a redelivery)."""

    kind: OutcomeKind
    text: str = ""
    model_id: str | None = None
    message_id: int | None = None  # the stored reply
    notices: tuple[str, ...] = ()
    reason: str = ""  # why it was ignored or refused, for logs and tests


@dataclass(slots=True)
class Turn:
    event: InboundEvent
    outbox: Outbox
    regenerate_of: int | None = None  # the stored reply being written again
    reuse: tuple[str, ...] = ()  # delivered messages the reply will be shown in
    recorded: tuple[str, ...] = ()  # messages stored with the reply as its first parts
    channel: ChannelState | None = None
    addressed: bool = False  # the bot is meant to answer (an apology is owed on failure)
    user_stored: bool = False
    history: list[StoredMessage] = field(default_factory=list)
    arm: BlendSettings | None = None  # the user's experiment arm, when one runs here
    request: ReplyRequest | None = None
    generation: Generation | None = None
    live: LivePreview | None = None
    redraws: list[str] = field(default_factory=list)  # "model:why" of each looping reply
    avoid: tuple[str, ...] = ()  # members not to draw (over their spend cap)
    screen: Callable[[str], bool] | None = None  # True: this text must not be previewed
    ask_admin: Callable[[], Awaitable[bool]] | None = None  # the adapter's "an admin here?"
    also: list[AlsoWrite] = field(default_factory=list)  # committed with the stored reply
    # run once the outcome is shown (True), or once its showing is cancelled (False: the
    # process is going away, and another one shows it)
    shown: list[Callable[[bool], None]] = field(default_factory=list)
    outcome: Outcome | None = None

    def end(self, kind: OutcomeKind, text: str = "", reason: str = "") -> None:
        """End the turn (the stage then returns without calling the rest)."""
        self.outcome = Outcome(kind, text, reason=reason or kind)

    def showing(self) -> bool:
        """Whether part of the reply already shows on the platform (its live preview)."""
        return self.live is not None and self.live.message_id is not None

    @property
    def key(self) -> str:
        """The channel's fair-turn and KV-cache key."""
        return f"{self.event.platform}:{self.event.channel_id}"


Next = Callable[[Turn], Awaitable[None]]


class Stage(Protocol):
    async def __call__(self, turn: Turn, rest: Next) -> None: ...


class Pipeline:
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)

    async def run(self, turn: Turn) -> Outcome:
        await self._at(0, turn)
        return turn.outcome or Outcome("ignored", reason="no stage answered")

    async def _at(self, index: int, turn: Turn) -> None:
        if index < len(self.stages):
            await self.stages[index](turn, lambda t: self._at(index + 1, t))
