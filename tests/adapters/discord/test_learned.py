"""`/blend mode learned` over the real discord.py client: the mode answers, a 👍 reaction
is evidence for the model that wrote the reply, and `/blend status` shows the shares."""

from __future__ import annotations

import asyncio

from engines.bandit import Arm
from tests.adapters.discord.conftest import Running, recorded, until
from tests.fakes.discord_api import FakeDiscord


async def test_learned_mode_learns_from_a_reaction(running: Running, fake: FakeDiscord
                                                   ) -> None:
    await fake.slash("blend", "mode", uid=fake.admin_id, mode="learned")
    await until(lambda: len(fake.followups()) == 1)
    assert "Blend mode is now learned." in fake.followups()[0].body["content"]
    await fake.user_says("hello there", mention=True)
    await until(lambda: any(not m["content"].endswith(" …")
                            for m in fake.bot_messages(fake.channel_id)))
    [reply] = fake.bot_messages(fake.channel_id)
    service = running.app.service
    ref = await recorded(running, reply["id"])
    assert ref.model_id is not None
    community = (await service.store.find_channel("discord", fake.channel_id))
    assert community is not None
    table = service.learning.arms_table
    await fake.react(reply["id"], "👍", uid=fake.member_id)
    await fake.react(reply["id"], "👍", uid=fake.admin_id)
    for _ in range(100):
        arms = await table.arms(community.community_id)
        if arms and arms[ref.model_id].wins >= 2.0:
            break
        await asyncio.sleep(0.02)
    arms = await table.arms(community.community_id)
    # two 👍 at age 0; one loss: nobody continued the conversation
    assert arms is not None and arms[ref.model_id] == Arm(2.0, 1.0)
    await fake.slash("blend", "status", uid=fake.admin_id)
    await until(lambda: len(fake.followups()) == 2)
    status = fake.followups()[1].body["content"]
    assert "Mode: learned" in status and "Learned shares: " in status
    shares = dict(p.rsplit(" ", 1) for p in
                  status.split("Learned shares: ")[1].split("\n")[0].split(", "))
    other = next(m for m in shares if m != ref.model_id)
    assert int(shares[ref.model_id].rstrip("%")) > int(shares[other].rstrip("%"))
