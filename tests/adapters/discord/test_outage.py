"""A server that goes unavailable in the middle of a session (a Discord outage) and comes back:
Discord sends nothing of what was said meanwhile, so the bot reads its recent channels back."""

from __future__ import annotations

from tests.adapters.discord.conftest import Running, until
from tests.adapters.discord.test_behaviour import replies_in
from tests.fakes.discord_api import FakeDiscord


async def test_mentions_made_while_a_server_was_unavailable_are_answered_when_it_is_back(
        running: Running, fake: FakeDiscord) -> None:
    await fake.user_says("hello", mention=True)
    await replies_in(fake, fake.channel_id)
    guild = running.bot.get_guild(int(fake.guild_id))
    assert guild is not None

    await fake.outage()
    await until(lambda: guild.unavailable)
    await fake.user_says("are you there?", mention=True, deliver=False)
    await fake.user_says("hello again", mention=True, deliver=False)
    await fake.back()

    replies = await replies_in(fake, fake.channel_id, 3)
    assert len(replies) == 3  # one each, none twice
    history = await running.app.service.history("discord", fake.channel_id)
    assert [m.text for m in history if m.role == "user"] == [
        "hello", "are you there?", "hello again"]

    await fake.user_says("and now?", mention=True)  # served as usual afterwards
    await replies_in(fake, fake.channel_id, 4)

