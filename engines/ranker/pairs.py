"""Preference pairs: hh-rlhf JSONL lines and the bot's own feedback, one shape for both."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..base import ChatMessage
from .texts import format_source

HUMAN = "\n\nHuman:"
ASSISTANT = "\n\nAssistant:"


class PairsError(ValueError):
    """A pairs file that cannot be read; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class PreferencePair:
    """`chosen` was preferred over `rejected` as the next reply after `source`.

    `key` identifies the pair for deterministic splits (a hash of its origin).
    """

    source: str
    chosen: str
    rejected: str
    key: str = ""


@dataclass(frozen=True, slots=True)
class PairsFile:
    pairs: list[PreferencePair]
    skipped: int  # lines whose two replies are identical, or which have no final reply


def parse_transcript(text: str) -> tuple[list[ChatMessage], str]:
    """`\\n\\nHuman: …\\n\\nAssistant: …` -> (the turns before the last reply, that reply)."""
    cut = text.rfind(ASSISTANT)
    if cut < 0:
        raise ValueError("no '\\n\\nAssistant:' turn")
    context, reply = text[:cut], text[cut + len(ASSISTANT):]
    turns: list[ChatMessage] = []
    rest = context
    while rest:
        h, a = rest.find(HUMAN), rest.find(ASSISTANT)
        starts = [i for i in (h, a) if i >= 0]
        if not starts:
            break
        start = min(starts)
        is_human = start == h
        rest = rest[start + len(HUMAN if is_human else ASSISTANT):]
        nxt = [i for i in (rest.find(HUMAN), rest.find(ASSISTANT)) if i >= 0]
        body, rest = (rest[:min(nxt)], rest[min(nxt):]) if nxt else (rest, "")
        turns.append(ChatMessage("user" if is_human else "assistant", body.strip()))
    return turns, reply.strip()


def hh_pair(line: str) -> PreferencePair | None:
    """One hh-rlhf line as a pair; None when there is nothing to prefer (identical replies)."""
    data = json.loads(line)
    if not isinstance(data, dict) or not isinstance(data.get("chosen"), str) \
            or not isinstance(data.get("rejected"), str):
        raise ValueError('expected {"chosen": "...", "rejected": "..."}')
    turns, chosen = parse_transcript(data["chosen"])
    _, rejected = parse_transcript(data["rejected"])
    if chosen == rejected or not (chosen or rejected):
        return None
    key = hashlib.sha256(line.strip().encode("utf-8")).hexdigest()
    return PreferencePair(format_source(turns), chosen, rejected, key)


def read_pairs(path: Path) -> PairsFile:
    """Every pair of an hh-rlhf-style JSONL file (`PairsError` names a bad line)."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise PairsError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise PairsError(f"{path} is not UTF-8 text") from None
    pairs, skipped = [], 0
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            pair = hh_pair(line)
        except (ValueError, TypeError) as exc:
            raise PairsError(f"{path}, line {number}: {exc}") from None
        if pair is None:
            skipped += 1
        else:
            pairs.append(pair)
    if not pairs:
        raise PairsError(f"{path} holds no preference pairs")
    return PairsFile(pairs, skipped)


def in_holdout(pair: PreferencePair, fraction: float) -> bool:
    """Whether `pair` falls in the held-out part of a deterministic split by its key."""
    return int(pair.key[:8] or "0", 16) % 10_000 < round(fraction * 10_000)


def split(pairs: Iterable[PreferencePair], holdout: float
          ) -> tuple[list[PreferencePair], list[PreferencePair]]:
    """(training part, held-out part): the same pairs land in the same part on every run."""
    train: list[PreferencePair] = []
    held: list[PreferencePair] = []
    for pair in pairs:
        (held if in_holdout(pair, holdout) else train).append(pair)
    return train, held


def keyed(source: str, chosen: str, rejected: str, origin: Sequence[object]) -> PreferencePair:
    """A pair whose key hashes `origin` (e.g. the message ids it came from)."""
    key = hashlib.sha256(json.dumps([str(o) for o in origin]).encode()).hexdigest()
    return PreferencePair(source, chosen, rejected, key)
