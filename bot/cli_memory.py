"""`blendbot memory CHANNEL [--json]`: a console channel's summary and pinned facts."""

from __future__ import annotations

import argparse
import json
import sys

from .config import Settings
from .database import store_for
from .storage import Store
from .storage.memory import Memories


def add_parser(sub: argparse._SubParsersAction) -> None:
    memory = sub.add_parser("memory", help="show a conversation's summary and pinned facts")
    memory.add_argument("channel")
    memory.add_argument("--json", action="store_true")


async def run(settings: Settings, channel: str, as_json: bool) -> int:
    store = store_for(settings)
    await store.open()
    try:
        return await show(store, channel, as_json)
    finally:
        await store.close()


async def show(store: Store, channel: str, as_json: bool) -> int:
    """Print the summary and facts of console channel `channel` from an open store."""
    found = await store.find_channel("console", channel)
    if found is None:
        print(f"blendbot: error: no conversation named '{channel}'", file=sys.stderr)
        return 1
    memories = Memories(store)
    summary = await memories.summary(found.id)
    speakers = await memories.user_ids(
        found.id, [m.id for m in await store.history(found.id) if m.role == "user"])
    facts = await memories.facts(found.id, speakers)  # the channel's, and its speakers'
    if as_json:
        print(json.dumps({
            "channel": channel,
            "summary": summary.as_json() if summary else None,
            "facts": [{"n": n, "scope": f.scope, "user": f.user_name, "text": f.text}
                      for n, f in enumerate(facts, 1)],
        }, ensure_ascii=False, indent=2))
        return 0
    if summary is not None:
        print(f"Summary of messages {summary.first_message_id}–{summary.last_message_id} "
              f"({summary.turns} messages, by {summary.model_id}):\n{summary.text}\n")
    else:
        print("No summary yet (the conversation still fits its models' context).\n")
    print("Pinned facts:" if facts else "No pinned facts.")
    for n, f in enumerate(facts, 1):
        whose = "channel" if f.user_id is None else f"user {f.user_name}"
        print(f"{n}. [{whose}] {f.text}")
    return 0
