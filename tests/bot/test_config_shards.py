"""`BLENDBOT_DISCORD_SHARDS`: all shards, or a range of them, checked when settings load."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, load_settings


def test_all_shards_or_a_range() -> None:
    assert load_settings(discord_shards="all").discord_shard_range == (None, None)
    assert load_settings(discord_shards="1-2/4").discord_shard_range == ([1, 2], 4)
    assert load_settings(discord_shards=" 0 - 0 / 1 ").discord_shard_range == ([0], 1)


@pytest.mark.parametrize(("spec", "says"), [
    ("2-1/4", "need 0 <= A <= B < N"), ("0-4/4", "need 0 <= A <= B < N"),
    ("some", "must be 'all' or 'A-B/N'"),
])
def test_a_bad_range_is_one_line(spec: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(discord_shards=spec)
    assert says in str(raised.value) and "discord_shards" in str(raised.value)
    assert "\n" not in str(raised.value)
