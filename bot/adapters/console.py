"""Console adapter: a terminal REPL on a TTY, one reply line per input line when piped."""

from __future__ import annotations

import asyncio
import io
import itertools
import sys
from dataclasses import dataclass
from typing import TextIO

from ..conversation import CommandResult, Conversations, InboundEvent, PlatformLimits

PLATFORM = "console"
QUIT = {"/quit", "/exit", "/q"}


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    channel: str = "console"
    user_name: str = "User"
    show_model: bool = False


def event_of(options: ConsoleOptions, text: str) -> InboundEvent:
    return InboundEvent(
        platform=PLATFORM, community_id=PLATFORM, community_name="console",
        channel_id=options.channel, channel_name=options.channel,
        user_id=options.user_name.lower(), user_name=options.user_name, text=text,
        is_admin=True, is_dm=True, age_restricted=True)  # the operator's own terminal


class TerminalOutbox:
    """Prints a reply as it streams in: each edit adds what is new since the last one."""

    def __init__(self, prompt: str, out: TextIO = sys.stdout, stream: bool = True) -> None:
        self.prompt = prompt
        self.out = out
        self.limits = PlatformLimits(max_chars=1_000_000, edit_interval_s=0.0, writing="",
                                     stream=stream)
        self.shown = ""
        self._ids = itertools.count(1)

    async def send(self, text: str, *, reply_to: str | None, controls: bool) -> str:
        print(("\n" if self.shown else "") + self.prompt + text, end="", file=self.out,
              flush=True)
        self.shown = text
        return f"console:{next(self._ids)}"

    async def edit(self, message_id: str, text: str, *, controls: bool) -> None:
        new = text[len(self.shown):] if text.startswith(self.shown) else "\n" + text
        print(new, end="", file=self.out, flush=True)
        self.shown = text

    async def delete(self, message_id: str) -> None:
        print(file=self.out, flush=True)

    async def typing(self) -> None:
        pass

    async def notify(self, text: str) -> None:
        print(f"({text})", file=self.out, flush=True)


def one_line(text: str, tag: str | None, show_model: bool) -> str:
    """A reply on a single line: newlines escaped as `\\n`, `[model-id] ` first if asked."""
    text = text.replace("\r", "").replace("\n", "\\n")
    return f"[{tag}] {text}" if show_model and tag else text


async def run_piped(core: Conversations, options: ConsoleOptions,
                    stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read one message per line; print exactly one line per message. Returns an exit code."""
    failures = 0
    greeting = await core.greet(event_of(options, ""))
    if greeting is not None:
        print(one_line(greeting, "greeting", options.show_model), file=stdout, flush=True)
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 1 if failures else 0
        outbox = TerminalOutbox("", io.StringIO(), stream=False)  # the line below is shown
        text = line.rstrip("\n")
        if text.startswith("/") and (result := await command(core, options, text, outbox)):
            print(one_line(result.text, None, False), file=stdout, flush=True)
            continue
        outcome = await core.handle(event_of(options, text), outbox)
        for notice in outcome.notices:
            print(f"note: {notice}", file=sys.stderr)
        failures += outcome.kind == "error"
        print(one_line(outcome.text, outcome.model_id, options.show_model), file=stdout,
              flush=True)


async def command(core: Conversations, options: ConsoleOptions, text: str,
                  outbox: TerminalOutbox) -> CommandResult | None:
    """A `/command` of the menu (`/remember tea`), answered through `outbox`; None if the
    line is not one."""

    async def admin() -> bool:
        return True

    return await core.text_command(event_of(options, text), text[1:].split(), outbox, admin)


async def run_repl(core: Conversations, options: ConsoleOptions) -> int:
    """Interactive chat on a terminal, streaming each reply as it is written."""
    name = await core.persona_name(event_of(options, ""))
    print(f"blendbot — channel '{options.channel}', talking to {name}. "
          "/reset starts over, /quit leaves.", flush=True)
    if (greeting := await core.greet(event_of(options, ""))) is not None:
        print(f"{name}> {greeting}", flush=True)
    while True:
        try:
            text = await asyncio.to_thread(input, f"{options.user_name}> ")
        except EOFError:
            print()
            return 0
        if text.strip() in QUIT:
            return 0
        if text.strip() == "/reset":
            await core.commands.reset(event_of(options, ""))
            print("(conversation reset)", flush=True)
            if (greeting := await core.greet(event_of(options, ""))) is not None:
                print(f"{name}> {greeting}", flush=True)
            continue
        if text.startswith("/") and await command(core, options, text.strip(),
                                                  TerminalOutbox(f"{name}> ")):
            print(flush=True)
            continue
        outcome = await core.handle(event_of(options, text), TerminalOutbox(f"{name}> "))
        tag = f"  [{outcome.model_id}]" if options.show_model and outcome.model_id else ""
        print(tag, flush=True)


async def run_console(core: Conversations, options: ConsoleOptions) -> int:
    if sys.stdin.isatty():
        return await run_repl(core, options)
    return await run_piped(core, options)
