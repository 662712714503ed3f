from __future__ import annotations

from tests.adapters.discord.conftest import Running, until
from tests.fakes.discord_api import FakeDiscord


async def test_syncs_commands_and_answers_a_mention_without_mentions(
    running: Running, fake: FakeDiscord
) -> None:
    names = {c["name"] for c in fake.commands}
    assert {"blend", "persona", "reset", "stats"} <= names
    await fake.user_says("hello there", mention=True)
    await until(lambda: fake.posts())
    await until(lambda: any("reply" in m["content"] for m in fake.bot_messages(
        fake.channel_id)))
    for call in fake.posts() + fake.edits():
        assert call.body["allowed_mentions"]["parse"] == []
    history = await running.app.service.history("discord", fake.channel_id)
    assert [m.text for m in history][:1] == ["hello there"]
