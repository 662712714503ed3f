"""`blendbot` command line: chat, history, models, run, bench."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from typing import NoReturn

from engines import MODE_NAMES, BlendError, ModelError
from engines.redact import redact

from . import cli_analytics, cli_db, cli_memory, cli_persona, cli_privacy, cli_ranker
from .config import ConfigError, ModelSpecError, Settings, load_settings
from .failures import unexpected
from .logs import setup_logging
from .storage.schema import DatabaseError

log = logging.getLogger("blendbot")


class UsageError(Exception):
    """Bad command-line input: one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage dump
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="blendbot", description="Blended chat bot for Discord and Telegram.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    chat = sub.add_parser("chat", help="chat in the terminal (one reply per line when piped)")
    chat.add_argument("--channel", default="console", help="conversation name (default console)")
    chat.add_argument("--mode", choices=MODE_NAMES, help="blend mode for this channel")
    chat.add_argument("--model", help="the model for --mode single")
    chat.add_argument("--seed", type=int, help="seed for reproducible draws and sampling")
    chat.add_argument("--max-tokens", type=int, help="longest reply in tokens")
    chat.add_argument("--show-model", action="store_true", help="prefix replies with [model-id]")
    chat.add_argument("--user", default="User", help="your display name (default User)")
    chat.add_argument("--persona", help="talk to this persona (name or id; saved for the channel)")
    chat.add_argument("--lorebook", help="attach an imported lorebook (name or id) to the channel")

    history = sub.add_parser("history", help="print a stored conversation")
    history.add_argument("channel")
    history.add_argument("--json", action="store_true")

    cli_memory.add_parser(sub)

    models = sub.add_parser("models", help="list configured models")
    models.add_argument("--json", action="store_true")

    sub.add_parser("run", help="start the service (console chat when no platform token is set)")
    cli_persona.add_parsers(sub)
    cli_analytics.add_parsers(sub)
    cli_ranker.add_parsers(sub)
    cli_db.add_parsers(sub)
    cli_privacy.add_parsers(sub)

    bench = sub.add_parser("bench", help="run a benchmark; the last line is one JSON object")
    bench.add_argument("name", choices=_bench_names())
    bench.add_argument("--json", action="store_true", help="print only the JSON result")
    bench.add_argument("--runs", type=int, default=None, help="paired runs (default per bench)")
    bench.add_argument("--users", type=int, default=None,
                       help="synthetic users for the report bench (default 25,000)")
    bench.add_argument("--seconds", type=float, default=None,
                       help="how long the load bench sends messages (default 60)")
    bench.add_argument("--think-s", type=float, default=None,
                       help="the load bench's mean pause of a channel between turns, in "
                            "seconds: the load's level (default 6)")
    return parser


def _bench_names() -> list[str]:
    from .bench import BENCHES

    return sorted([*BENCHES, "report", "load"])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        setup_logging(settings.log_level, settings.log_format, settings.secret_values)
        return asyncio.run(_dispatch(args, settings))
    except (UsageError, cli_persona.PersonaUsageError, cli_analytics.AnalyticsUsageError,
            cli_ranker.RankerUsageError, cli_privacy.PrivacyUsageError) as exc:
        print(f"blendbot: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except ModelSpecError as exc:  # a bad [[models]] table: like a bad argument
        print(f"blendbot: error: {redact(str(exc))}", file=sys.stderr)
        return 2
    except (ConfigError, ModelError, BlendError, DatabaseError) as exc:
        print(f"blendbot: error: {redact(str(exc))}", file=sys.stderr)
        log.debug("traceback of the failure above", exc_info=exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the one boundary: a line for the user, the traceback at DEBUG
        print(f"blendbot: error: {unexpected(exc)}", file=sys.stderr)
        log.debug("traceback of the failure above", exc_info=exc)
        return 1


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "models":
        from . import cli_models

        return await cli_models.run(settings, args.json)
    if args.command == "bench":
        from .bench import run_bench

        return await run_bench(args.name, settings, runs=args.runs, json_only=args.json,
                               users=args.users, seconds=args.seconds,
                               think_s=args.think_s)
    if args.command == "run":
        from .serve import serve

        return await serve(settings)
    if args.command in ("analytics", "report"):
        return await cli_analytics.run(args, settings)
    if args.command == "db":
        return await cli_db.run(args, settings)
    if args.command in ("forget", "community"):
        return await cli_privacy.run(args, settings)
    if args.command == "ranker":
        return await cli_ranker.run(args, settings)
    if args.command in ("persona", "lorebook"):
        return await cli_persona.run(args, settings)
    if args.command == "memory":
        return await cli_memory.run(settings, args.channel, args.json)
    if args.command == "history":
        return await _history(settings, args.channel, args.json)
    return await _chat(settings, args)


def _check_choice(value: str | None, choices: Sequence[str], what: str) -> None:
    if value is not None and value not in choices:
        raise UsageError(f"unknown {what} '{value}' (choose from {', '.join(choices)})")


async def _chat(settings: Settings, args: argparse.Namespace) -> int:
    from .adapters.console import ConsoleOptions, event_of, run_console
    from .app import build_app

    model_ids = [m.id for m in settings.models]
    _check_choice(args.model, model_ids, "model")
    if args.max_tokens is not None and args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1")
    options = ConsoleOptions(channel=args.channel, user_name=args.user,
                             show_model=args.show_model)
    if args.max_tokens is not None:
        settings = settings.model_copy(update={"max_tokens": args.max_tokens})
    app = await build_app(settings, seed=args.seed)
    try:
        service = app.service
        channel = await service.channel(event_of(options, ""))
        if args.mode or args.model:
            mode = args.mode or ("single" if args.model else None)
            await service.set_blend(channel, mode=mode, model_id=args.model)
        if args.persona:
            try:
                await service.set_persona(channel, args.persona)
            except LookupError as exc:
                raise UsageError(str(exc).strip("'\"")) from None
        if args.lorebook:
            book = await service.library.lorebook(args.lorebook)
            if book is None:
                names = ", ".join(b.name for b in await service.library.lorebooks()) or "none"
                raise UsageError(f"no lorebook named '{args.lorebook}' (imported: {names})")
            await service.store.update_channel(channel.id, lorebook_id=book.id)
        return await run_console(app.core, options)
    finally:
        await app.close()


async def _history(settings: Settings, channel: str, as_json: bool) -> int:
    from .database import store_for

    store = store_for(settings)
    await store.open()
    try:
        found = await store.find_channel("console", channel)
        messages = await store.history(found.id) if found else []
    finally:
        await store.close()
    if as_json:
        print(json.dumps([m.as_json() for m in messages], ensure_ascii=False, indent=2))
        return 0
    if not found:
        print(f"no conversation named '{channel}'", file=sys.stderr)
        return 1
    for m in messages:
        who = m.author if m.role == "user" else f"{settings.bot_name} [{m.model_id}]"
        print(f"{m.created_at:%Y-%m-%d %H:%M:%S}  {who}: {m.text}")
    return 0


__all__ = ["main"]
