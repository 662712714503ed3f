"""Text commands (`/mode single`, `/report schedule mon 9 UTC`): the menu, the help text and
how each command's words reach `Commands`. Platforms with typed commands (Discord's slash
commands) call `Commands` directly; platforms that read text use `run_text`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from .commands import CommandResult, Commands
from .experiment_commands import USAGE
from .inbound import InboundEvent

Run = Callable[[Commands, InboundEvent, Sequence[str]], Awaitable[CommandResult]]

MENU: tuple[tuple[str, str], ...] = (
    ("start", "Say hello: the persona's greeting"),
    ("help", "What I can do and how to talk to me"),
    ("mode", "Blend mode: /mode <mode> [model] (admins)"),
    ("models", "The models in the blend"),
    ("weights", "Weights: /weights model=2,other=1 (admins)"),
    ("status", "This chat's mode, weights, persona and settings"),
    ("chat", "/chat on|off: answer every message here (admins)"),
    ("disclose", "/disclose on|off: name the model under each reply (admins)"),
    ("persona", "List personas, or /persona <name> to switch (admins)"),
    ("reset", "Start the conversation afresh (admins)"),
    ("stats", "Message and model counts for this chat and group"),
    ("remember", "/remember <fact>: pin a fact I keep in mind (admins: for the chat)"),
    ("memories", "The pinned facts and the summary of older messages"),
    ("forget_memory", "/forget_memory <n>: unpin fact n of /memories"),
    ("report", "/report now | here | schedule <weekday> <hour> <timezone> (admins)"),
    ("experiment", "/experiment start <name> <arm>=<mode-or-model> ... [days] | status | "
     "stop (admins)"),
)

HELP = "\n".join([
    "I'm a chat bot that blends several small models: each reply is written by one of them.",
    "In a private chat I answer everything; in a group, mention me or reply to me "
    "(or an admin can turn on /chat on).",
    "Under each reply: 👍 / 👎 to rate it, 🔄 for another try.",
    "",
    *(f"/{name} — {about}" for name, about in MENU),
])


def _usage(text: str) -> CommandResult:
    return CommandResult(text, ok=False)


async def _help(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    return CommandResult(HELP)


async def _mode(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    if not args:
        modes = ", ".join(c.modes())
        return _usage(f"Usage: /mode <mode> [model]. Modes: {modes}.")
    return await c.blend_mode(ctx, args[0], args[1] if len(args) > 1 else None)


async def _weights(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    return await c.blend_weights(ctx, ",".join(args))


async def _persona(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    if not args:
        return await c.persona_list(ctx)
    return await c.persona_set(ctx, " ".join(args))


async def _report(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    action = _first(args).lower()
    if action == "now":
        return await c.report_now(ctx)
    if action == "here":
        return await c.report_channel(ctx, ctx.channel_id, "this chat")
    if action == "schedule" and len(args) in (3, 4):
        return await c.report_schedule(ctx, args[1], args[2], args[3] if len(args) > 3 else "UTC")
    return _usage("Usage: /report now | /report here | /report schedule <weekday> <hour> "
                  "[timezone], e.g. /report schedule mon 9 Europe/Berlin")


async def _experiment(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    action = _first(args).lower()
    if action == "status":
        return await c.experiment.status(ctx)
    if action == "stop":
        return await c.experiment.stop(ctx)
    if action == "start" and len(args) >= 2:
        rest = list(args[2:])
        days = rest.pop() if rest and "=" not in rest[-1] else None
        return await c.experiment.start(ctx, args[1], rest, days)
    return _usage(f"{USAGE}; /experiment status; /experiment stop")


def _first(args: Sequence[str]) -> str:
    return args[0] if args else ""


RUN: dict[str, Run] = {
    "start": lambda c, ctx, a: c.start(ctx),
    "help": _help,
    "mode": _mode,
    "models": lambda c, ctx, a: c.blend_models(ctx),
    "weights": _weights,
    "status": lambda c, ctx, a: c.blend_status(ctx),
    "chat": lambda c, ctx, a: c.blend_channel(ctx, _first(a)),
    "disclose": lambda c, ctx, a: c.blend_disclose(ctx, _first(a)),
    "persona": _persona,
    "reset": lambda c, ctx, a: c.reset(ctx),
    "report": _report,
    "experiment": _experiment,
    "stats": lambda c, ctx, a: c.stats(ctx),
    "remember": lambda c, ctx, a: c.memory.remember(ctx, " ".join(a)),
    "memories": lambda c, ctx, a: c.memory.memories(ctx),
    "forget_memory": lambda c, ctx, a: c.memory.forget_memory(ctx, _first(a)),
}


async def run_text(commands: Commands, event: InboundEvent, name: str,
                   args: Sequence[str]) -> CommandResult | None:
    """Run text command `name` (without its slash) with its words; None if there is none."""
    run = RUN.get(name.lower())
    return await run(commands, event, args) if run is not None else None
