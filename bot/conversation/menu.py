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
    ("forget", "/forget, then /forget confirm: delete what I stored of you"),
    ("nsfw", "/nsfw on|off: allow NSFW personas in this chat (admins)"),
    ("report", "/report now | here | schedule <weekday> <hour> <timezone> (admins)"),
    ("access", "/access allow|deny|remove user <id> [here] | list: who may talk to me "
     "(admins)"),
    ("quota", "/quota user|community <tokens|off>: daily token budgets (admins)"),
    ("usage", "Your tokens today (admins: the group's and the models' spend)"),
    ("moderation", "/moderation word|regex <text> | remove <n> | list | log here|off | "
     "text on|off (admins)"),
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


ACCESS_USAGE = ("Usage: /access allow|deny|remove user|role <id> [here] (or reply to the "
                "user's message), or /access list")


async def _access(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    action = _first(args).lower()
    if action == "list":
        return await c.safety.access_list(ctx)
    if action not in ("allow", "deny", "remove") or len(args) < 2:
        return _usage(ACCESS_USAGE)
    rest = list(args[2:])
    here = bool(rest) and rest[-1].lower() == "here"
    if here:
        rest.pop()
    if len(rest) > 1:
        return _usage(ACCESS_USAGE)
    subject = _first(rest)
    if action == "remove":
        return await c.safety.access_remove(ctx, args[1], subject, here)
    return await c.safety.access(ctx, action, args[1], subject, here)


async def _quota(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    which = _first(args).lower()
    if which == "role" and len(args) == 3:
        return await c.safety.quota(ctx, which, args[2], role=args[1])
    if which in ("user", "community") and len(args) == 2:
        return await c.safety.quota(ctx, which, args[1])
    return _usage("Usage: /quota user <tokens|off> | /quota community <tokens|off> | "
                  "/quota role <role id> <tokens|off> (tokens a day, e.g. 20000 or 20k)")


async def _moderation(c: Commands, ctx: InboundEvent, args: Sequence[str]) -> CommandResult:
    action = _first(args).lower()
    if action in ("word", "regex") and len(args) > 1:
        return await c.safety.moderation_add(ctx, action, " ".join(args[1:]))
    if action == "remove" and len(args) == 2:
        return await c.safety.moderation_remove(ctx, args[1])
    if action == "list" and len(args) == 1:
        return await c.safety.moderation_list(ctx)
    if action == "log" and len(args) == 2 and args[1].lower() in ("here", "off"):
        here = args[1].lower() == "here"
        return await c.safety.moderation_log(ctx, ctx.channel_id if here else None,
                                             "this chat")
    if action == "text" and len(args) == 2:
        return await c.safety.moderation_text(ctx, args[1])
    return _usage("Usage: /moderation word <word> | regex <pattern> | remove <n> | list | "
                  "log here|off | text on|off")


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
    "access": _access,
    "quota": _quota,
    "usage": lambda c, ctx, a: c.safety.usage(ctx),
    "moderation": _moderation,
    "forget": lambda c, ctx, a: c.privacy.forget(ctx, " ".join(a)),
    "nsfw": lambda c, ctx, a: c.privacy.nsfw(ctx, _first(a)),
}


async def run_text(commands: Commands, event: InboundEvent, name: str,
                   args: Sequence[str]) -> CommandResult | None:
    """Run text command `name` (without its slash) with its words; None if there is none."""
    run = RUN.get(name.lower())
    return await run(commands, event, args) if run is not None else None
