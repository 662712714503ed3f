"""`BLENDBOT_DISCORD_SHARDS`: `all`, or `A-B/N` — this process runs shards A..B of N."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...config import ConfigError

_SPEC = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*/\s*(\d+)\s*$")


@dataclass(frozen=True, slots=True)
class ShardPlan:
    shard_ids: list[int] | None  # None: all of them
    shard_count: int | None  # None: ask Discord (GET /gateway/bot)


def parse_shards(spec: str) -> ShardPlan:
    if spec.strip().lower() in ("", "all"):
        return ShardPlan(None, None)
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(f"BLENDBOT_DISCORD_SHARDS must be 'all' or 'A-B/N' (got '{spec}')")
    first, last, count = (int(g) for g in match.groups())
    if not (0 <= first <= last < count):
        raise ConfigError(
            f"BLENDBOT_DISCORD_SHARDS '{spec}': need 0 <= A <= B < N (shards are 0..N-1)"
        )
    return ShardPlan(list(range(first, last + 1)), count)
