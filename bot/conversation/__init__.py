"""The platform-neutral conversation core: everything an adapter may use is named here.

An adapter translates a platform event into an `InboundEvent`, hands it to
`Conversations.handle` with an `Outbox` for that conversation, and renders command results;
the core decides whether and how to answer and drives the outbox.
"""

from .commands import CommandResult, Commands
from .core import Conversations, Rating, ReportSink
from .inbound import InboundEvent
from .inbox import NotRecorded
from .menu import MENU
from .outbox import Outbox, PlatformLimits, RetryLater, SendError
from .pacing import Budget
from .pipeline import Outcome
from .safety.hygiene import unping
from .stages.respond import APOLOGY

__all__ = [
    "APOLOGY",
    "MENU",
    "Budget",
    "CommandResult",
    "Commands",
    "Conversations",
    "InboundEvent",
    "NotRecorded",
    "Outbox",
    "Outcome",
    "PlatformLimits",
    "Rating",
    "ReportSink",
    "RetryLater",
    "SendError",
    "unping",
]
