"""Console adapter: a terminal REPL on a TTY, one reply line per input line when piped."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from typing import TextIO

from engines import SamplingParams

from ..service import ChatService, IncomingMessage, Reply

PLATFORM = "console"
QUIT = {"/quit", "/exit", "/q"}


@dataclass(frozen=True, slots=True)
class ConsoleOptions:
    channel: str = "console"
    user_name: str = "User"
    show_model: bool = False
    params: SamplingParams = field(default_factory=SamplingParams)


def incoming(options: ConsoleOptions, text: str) -> IncomingMessage:
    return IncomingMessage(
        platform=PLATFORM, community_id=PLATFORM, community_name="console",
        channel_id=options.channel, channel_name=options.channel,
        user_id=options.user_name.lower(), user_name=options.user_name, text=text,
    )


def one_line(reply: Reply, show_model: bool) -> str:
    """A reply on a single line: newlines escaped as `\\n`, `[model-id] ` first if asked."""
    text = reply.text.replace("\r", "").replace("\n", "\\n")
    tag = reply.model_id or ("greeting" if reply.kind == "reply" else None)
    if show_model and tag:
        return f"[{tag}] {text}"
    return text


async def run_piped(service: ChatService, options: ConsoleOptions,
                    stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout) -> int:
    """Read one message per line; print exactly one line per message. Returns an exit code."""
    failures = 0
    greeting = await service.greet(incoming(options, ""))
    if greeting is not None:
        print(one_line(greeting, options.show_model), file=stdout, flush=True)
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            return 1 if failures else 0
        reply = await service.handle(incoming(options, line.rstrip("\n")), options.params)
        for notice in reply.notices:
            print(f"note: {notice}", file=sys.stderr)
        failures += reply.kind == "error"
        print(one_line(reply, options.show_model), file=stdout, flush=True)


async def run_repl(service: ChatService, options: ConsoleOptions) -> int:
    """Interactive chat on a terminal, streaming each reply as it is written."""
    channel = await service.channel(incoming(options, ""))
    name = (await service.persona_of(channel)).name
    print(f"blendbot — channel '{options.channel}', talking to {name}. "
          "/reset starts over, /quit leaves.", flush=True)
    greeting = await service.greet(incoming(options, ""))
    if greeting is not None:
        print(f"{name}> {greeting.text}", flush=True)
    while True:
        try:
            text = await asyncio.to_thread(input, f"{options.user_name}> ")
        except EOFError:
            print()
            return 0
        if text.strip() in QUIT:
            return 0
        if text.strip() == "/reset":
            await service.reset(channel)
            print("(conversation reset)", flush=True)
            greeting = await service.greet(incoming(options, ""))
            if greeting is not None:
                print(f"{name}> {greeting.text}", flush=True)
            continue
        started = False
        async for item in service.stream(incoming(options, text), options.params):
            if isinstance(item, str):
                if not started:
                    print(f"{name}> ", end="", flush=True)
                    started = True
                print(item, end="", flush=True)
                continue
            if not started:
                print(item.text, end="")
            tag = f"  [{item.model_id}]" if options.show_model and item.model_id else ""
            print(tag, flush=True)
            for notice in item.notices:
                print(f"  (note: {notice})", flush=True)


async def run_console(service: ChatService, options: ConsoleOptions) -> int:
    if sys.stdin.isatty():
        return await run_repl(service, options)
    return await run_piped(service, options)
