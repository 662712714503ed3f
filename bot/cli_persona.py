"""`blendbot persona …` and `blendbot lorebook …`: import, list, show and export characters."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from persona import CardError, CharacterCard, load_card_file, load_lorebook_file, write_card_png
from persona.prompt import greetings

from .config import Settings
from .database import store_for
from .personas import PersonaChoice, Personas, flag_nsfw, is_nsfw
from .storage.library import Library


class PersonaUsageError(Exception):
    """Bad persona input: one line, exit code 2."""


def add_parsers(sub: Any) -> None:
    persona = sub.add_parser("persona", help="character cards: import, list, show, export")
    psub = persona.add_subparsers(dest="persona_command", required=True)
    imp = psub.add_parser("import", help="import a Character Card (V1/V2/V3, .png or .json)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--replace", action="store_true",
                     help="overwrite the newest persona with the same name")
    imp.add_argument("--nsfw", action="store_true",
                     help="mark the card NSFW (only for age-restricted channels and opted-in "
                          "chats)")
    lst = psub.add_parser("list", help="bundled and imported personas")
    lst.add_argument("--json", action="store_true")
    show = psub.add_parser("show", help="one persona's card")
    show.add_argument("name", help="name or id")
    show.add_argument("--json", action="store_true")
    exp = psub.add_parser("export", help="write a persona as a V2 card")
    exp.add_argument("name", help="name or id")
    exp.add_argument("--out", type=Path, required=True, help="FILE.json or FILE.png")

    lore = sub.add_parser("lorebook", help="standalone lorebooks (SillyTavern World Info)")
    lsub = lore.add_subparsers(dest="lorebook_command", required=True)
    limp = lsub.add_parser("import", help="import a World Info JSON file")
    limp.add_argument("file", type=Path)
    llst = lsub.add_parser("list", help="imported lorebooks")
    llst.add_argument("--json", action="store_true")


@asynccontextmanager
async def _library(settings: Settings) -> AsyncIterator[Library]:
    store = store_for(settings)
    await store.open()
    try:
        yield Library(store)
    finally:
        await store.close()


def summary(choice: PersonaChoice) -> dict[str, Any]:
    card, book = choice.card, choice.card.lorebook()
    return {
        "ref": choice.ref,
        "id": int(choice.ref.split(":", 1)[1]) if choice.source == "imported" else None,
        "name": choice.name,
        "source": choice.source,
        "spec": card.spec,
        "description": card.data.description,
        "personality": card.data.personality,
        "scenario": card.data.scenario,
        "first_mes": card.data.first_mes,
        "alternate_greetings": card.data.alternate_greetings,
        "greetings": len(greetings(card)),
        "example_blocks": card.data.mes_example.upper().count("<START>"),
        "system_prompt": card.data.system_prompt,
        "post_history_instructions": card.data.post_history_instructions,
        "lorebook_entries": len(book.entries) if book else 0,
        "tags": card.data.tags,
        "nsfw": is_nsfw(card),
        "creator": card.data.creator,
    }


async def run(args: argparse.Namespace, settings: Settings) -> int:
    async with _library(settings) as library:
        personas = Personas(library, settings.bot_name)
        if args.command == "lorebook":
            return await _lorebook(args, library)
        command = args.persona_command
        if command == "import":
            card, avatar = _load(args.file)
            if args.nsfw:
                card = flag_nsfw(card)
            ident, replaced = await library.add_persona(card, avatar, replace=args.replace)
            verb = "Replaced" if replaced else "Imported"
            book = card.lorebook()
            extra = f", {len(book.entries)} lorebook entries" if book else ""
            print(f"{verb} {card.name} (id {ident}, {card.spec}{extra})")
            return 0
        if command == "list":
            rows = [summary(p) for p in await personas.all()]
            if args.json:
                print(json.dumps(rows, ensure_ascii=False, indent=2))
            for r in [] if args.json else rows:
                ref = f"#{r['id']}" if r["id"] is not None else r["ref"]
                print(f"{r['name']:<24} {ref:<26} {r['source']:<9} "
                      f"lore={r['lorebook_entries']} greetings={r['greetings']}")
            return 0
        choice = await _find(personas, args.name)
        if command == "show":
            row = summary(choice)
            if args.json:
                print(json.dumps(row, ensure_ascii=False, indent=2))
            else:
                for key, value in row.items():
                    print(f"{key}: {value}")
            return 0
        return _export(choice, args.out)


def _load(path: Path) -> tuple[CharacterCard, bytes | None]:
    try:
        return load_card_file(path)
    except CardError as exc:
        raise PersonaUsageError(f"cannot import {path}: {exc}") from None


async def _find(personas: Personas, name: str) -> PersonaChoice:
    choice = await personas.find(name)
    if choice is None:
        names = ", ".join(p.name for p in await personas.all())
        raise PersonaUsageError(f"no persona named '{name}' (choose from {names})")
    return choice


def _export(choice: PersonaChoice, out: Path) -> int:
    suffix = out.suffix.lower()
    if suffix not in (".json", ".png"):
        raise PersonaUsageError("--out must end in .json or .png")
    text = choice.card.to_v2_json()
    data = write_card_png(text, choice.avatar) if suffix == ".png" else text.encode("utf-8")
    try:
        out.write_bytes(data)
    except OSError as exc:
        raise PersonaUsageError(f"cannot write {out}: {exc.strerror}") from None
    print(f"Wrote {choice.name} to {out} (chara_card_v2)")
    return 0


async def _lorebook(args: argparse.Namespace, library: Library) -> int:
    if args.lorebook_command == "import":
        try:
            book = load_lorebook_file(args.file)
        except CardError as exc:
            raise PersonaUsageError(f"cannot import {args.file}: {exc}") from None
        ident = await library.add_lorebook(book)
        print(f"Imported lorebook {book.name} (id {ident}, {len(book.entries)} entries)")
        return 0
    rows = [{"id": b.id, "name": b.name, "entries": len(b.book.entries)}
            for b in await library.lorebooks()]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for r in rows:
            print(f"#{r['id']:<5} {r['name']:<30} {r['entries']} entries")
    return 0
