"""Moderation rules: a community's words and regexes, and an optional OpenAI-compatible
endpoint. `check` says which rule flagged a text, if any."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import regex

from ...storage.safety import Pattern
from .options import ModerationEndpoint

log = logging.getLogger(__name__)
MAX_PATTERN = 200
MATCH_TIMEOUT_S = 0.05  # a pattern that takes longer on one text does not match it
GUARD_PROMPT = ("Is the following message safe? Answer 'safe', or 'unsafe' and the "
                "category.\n\n{text}")


class PatternError(ValueError):
    """A word or regex that cannot be used; the message is one line for the admin."""


class EndpointDown(RuntimeError):
    """The moderation endpoint did not answer (the message is safe to log)."""


@dataclass(frozen=True, slots=True)
class Flag:
    """Why a text was flagged: `rule` names the entry ("word #2", "regex #3", or the
    endpoint's categories)."""

    rule: str


def compile_pattern(kind: str, pattern: str) -> regex.Pattern[str]:
    """A word (whole word, any case) or a regex (any case), compiled; `PatternError`."""
    text = pattern.strip()
    if not text:
        raise PatternError(f"Give a {kind} to add.")
    if len(text) > MAX_PATTERN:
        raise PatternError(f"That {kind} is too long (at most {MAX_PATTERN} characters).")
    if kind == "word":
        return regex.compile(rf"(?<!\w){regex.escape(text)}(?!\w)",
                             regex.IGNORECASE)
    try:
        return regex.compile(text, regex.IGNORECASE)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        reason = str(exc).split("\n", 1)[0][:120]
        raise PatternError(f"That regex does not compile ({reason}); nothing was added.") \
            from None


def matching(text: str, patterns: Sequence[Pattern]) -> Flag | None:
    """The first of `patterns` found in `text` (numbered as `/moderation list` shows them)."""
    for number, entry in enumerate(patterns, 1):
        try:
            compiled = compile_pattern(entry.kind, entry.pattern)  # regex caches them
            if compiled.search(text, timeout=MATCH_TIMEOUT_S) is not None:
                return Flag(f"{entry.kind} #{number}")
        except PatternError:  # stored before the rules tightened: skipped
            continue
        except TimeoutError:
            log.warning("moderation: %s #%d took too long on a message; skipped",
                        entry.kind, number)
    return None


class EndpointCheck:
    """Asks the configured endpoint about one text; `EndpointDown` when it cannot."""

    def __init__(self, endpoint: ModerationEndpoint) -> None:
        self.endpoint = endpoint

    async def __call__(self, text: str) -> Flag | None:
        endpoint = self.endpoint
        headers = {}
        if endpoint.api_key_env:
            key = os.environ.get(endpoint.api_key_env)
            if not key:
                raise EndpointDown(f"{endpoint.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        base = endpoint.url.rstrip("/")
        if endpoint.kind == "guard":
            url, body = f"{base}/chat/completions", {
                "model": endpoint.model or "guard", "max_tokens": 16, "temperature": 0,
                "messages": [{"role": "user", "content": GUARD_PROMPT.format(text=text)}]}
        else:
            url, body = f"{base}/moderations", {"input": text}
            if endpoint.model:
                body["model"] = endpoint.model
        timeout = aiohttp.ClientTimeout(total=endpoint.timeout_s)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.post(url, json=body, headers=headers) as response:
                if response.status != 200:
                    raise EndpointDown(f"HTTP {response.status}")
                data = await response.json(content_type=None)
        except EndpointDown:
            raise
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise EndpointDown(type(exc).__name__) from None
        try:
            return _guard_verdict(data) if endpoint.kind == "guard" else _verdict(data)
        except (KeyError, IndexError, TypeError, AttributeError):
            raise EndpointDown("an answer of an unexpected shape") from None


def _verdict(data: Any) -> Flag | None:
    result = data["results"][0]
    if not result["flagged"]:
        return None
    categories = [k for k, v in (result.get("categories") or {}).items() if v]
    return Flag("endpoint: " + (", ".join(categories[:3]) or "flagged"))


def _guard_verdict(data: Any) -> Flag | None:
    answer = str(data["choices"][0]["message"]["content"]).strip()
    if not answer.lower().startswith("unsafe"):
        return None
    category = " ".join(answer.split()[1:2])
    return Flag("guard: " + (category or "unsafe"))
