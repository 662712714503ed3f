"""The real discord.py client against the loopback fake: what members and admins see."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.adapters.discord.output import REGENERATE_ID
from bot.storage.candidates import candidates_of
from tests.adapters.discord.conftest import Running, make_app, recorded, start_bot, until
from tests.fakes.discord_api import FakeDiscord
from tests.stubs import ScriptedModel, StubModel


async def replies_in(fake: FakeDiscord, channel: str, n: int = 1) -> list[dict]:
    await until(lambda: len([m for m in fake.bot_messages(channel)
                             if not m["content"].endswith(" …")]) >= n)
    return fake.bot_messages(channel)


async def test_only_addressed_messages_are_answered(running: Running, fake: FakeDiscord
                                                    ) -> None:
    await fake.user_says("just chatting among ourselves")
    await asyncio.sleep(0.3)
    assert fake.posts() == []
    await fake.user_says("hey bot", mention=True)
    [first] = await replies_in(fake, fake.channel_id)
    await fake.user_says("and a reply to you", reply_to=first["id"])
    await replies_in(fake, fake.channel_id, 2)
    history = await running.app.service.history("discord", fake.channel_id)
    assert [m.text for m in history if m.role == "user"] == ["hey bot", "and a reply to you"]


async def test_thread_has_its_own_history(running: Running, fake: FakeDiscord) -> None:
    await fake.user_says("in the channel", mention=True)
    await replies_in(fake, fake.channel_id)
    await fake.user_says("in the thread", mention=True, channel_id=fake.thread_id)
    await replies_in(fake, fake.thread_id)
    service = running.app.service
    assert [m.text for m in await service.history("discord", fake.thread_id)
            if m.role == "user"] == ["in the thread"]
    assert [m.text for m in await service.history("discord", fake.channel_id)
            if m.role == "user"] == ["in the channel"]


async def test_admin_changes_mode_member_is_refused(running: Running, fake: FakeDiscord) -> None:
    await fake.slash("blend", "mode", uid=fake.member_id, mode="single")
    await until(lambda: len(fake.followups()) == 1)
    refusal = fake.followups()[0].body
    assert "Only admins" in refusal["content"] and refusal["flags"] & 64  # ephemeral
    await fake.slash("blend", "status", uid=fake.admin_id)
    await until(lambda: len(fake.followups()) == 2)
    assert "Mode: uniform" in fake.followups()[1].body["content"]

    await fake.slash("blend", "mode", uid=fake.admin_id, mode="single")
    await until(lambda: len(fake.followups()) == 3)
    assert "single (smollm2-135m)" in fake.followups()[2].body["content"]
    await fake.slash("blend", "status", uid=fake.admin_id)
    await until(lambda: len(fake.followups()) == 4)
    assert "Mode: single (smollm2-135m)" in fake.followups()[3].body["content"]
    for _ in range(3):
        await fake.user_says("who answers?", mention=True)
    await replies_in(fake, fake.channel_id, 3)
    history = await running.app.service.history("discord", fake.channel_id)
    assert {m.model_id for m in history if m.role == "assistant"} == {"smollm2-135m"}
    for call in fake.followups():
        assert call.body["allowed_mentions"]["parse"] == []


async def test_only_servable_modes_are_offered(running: Running, fake: FakeDiscord) -> None:
    blend = next(c for c in fake.commands if c["name"] == "blend")
    mode = next(o for o in blend["options"] if o["name"] == "mode")
    offered = [c["value"] for c in mode["options"][0]["choices"]]
    assert offered == ["single", "uniform", "weighted", "learned", "best_of_n", "fuse"]
    await fake.slash("blend", "mode", uid=fake.admin_id, mode="chaos")  # a stale client
    await until(lambda: fake.followups())
    assert "unknown mode 'chaos'" in fake.followups()[0].body["content"]


async def test_best_of_n_sends_the_ranked_best_and_keeps_every_candidate(
        running: Running, fake: FakeDiscord) -> None:
    await fake.slash("blend", "mode", uid=fake.admin_id, mode="best_of_n")
    await until(lambda: fake.followups())
    assert fake.followups()[0].body["content"] == "Blend mode is now best_of_n."
    await fake.user_says("which of you is best?", mention=True)
    [reply] = await replies_in(fake, fake.channel_id)
    app = running.app
    [_, bot] = await app.service.history("discord", fake.channel_id)
    assert bot.mode == "best_of_n"
    stored = await candidates_of(app.store, bot.id)
    assert sorted(c.model_id for c in stored) == ["gemma3-270m", "smollm2-135m"]
    assert [c.rank for c in stored] == [1, 2] and stored[0].score is not None
    assert reply["content"] == stored[0].text == bot.text and bot.model_id == stored[0].model_id


async def test_answer_all_channel_and_disclose(running: Running, fake: FakeDiscord) -> None:
    await fake.slash("blend", "channel", uid=fake.admin_id, state="on")
    await fake.slash("blend", "disclose", uid=fake.admin_id, state="on")
    await until(lambda: len(fake.followups()) == 2)
    await fake.user_says("no mention needed now")
    [reply] = await replies_in(fake, fake.channel_id)
    assert "-# written by " in reply["content"]


async def test_reactions_and_regenerate_are_stored(running: Running, fake: FakeDiscord) -> None:
    await fake.user_says("rate me", mention=True)
    [reply] = await replies_in(fake, fake.channel_id)
    assert reply["components"][0]["components"][0]["custom_id"] == REGENERATE_ID
    service = running.app.service
    ref = await recorded(running, reply["id"])
    await fake.react(reply["id"], "👍", uid=fake.member_id)
    await fake.react(reply["id"], "👎", uid=fake.admin_id)
    for _ in range(500):  # up to 10 s on a loaded machine
        if len(await service.replies.feedback(ref.message_id)) == 2:
            break
        await asyncio.sleep(0.02)
    rows = await service.replies.feedback(ref.message_id)
    assert sorted(k for _, k, _ in rows) == ["down", "up"]
    assert {m for _, _, m in rows} == {ref.model_id}

    def rewritten(old: str) -> bool:  # the new reply is in place (no preview left)
        content = fake.messages[reply["id"]]["content"]
        return content != old and not content.endswith(" …")

    before = reply["content"]
    await fake.click(reply["id"], REGENERATE_ID, uid=fake.member_id)
    await until(lambda: rewritten(before))
    history = await service.history("discord", fake.channel_id)
    assert history[-1].role == "assistant" and history[-1].id != ref.message_id
    assert fake.messages[reply["id"]]["content"].startswith(history[-1].text)
    assert "regenerate" in [k for _, k, _ in await service.replies.feedback(ref.message_id)]
    # the edited message now carries the new reply: it can be regenerated again
    second = fake.messages[reply["id"]]["content"]
    await fake.click(reply["id"], REGENERATE_ID, uid=fake.member_id)
    await until(lambda: rewritten(second))
    newest = (await service.history("discord", fake.channel_id))[-1]
    assert newest.id not in (ref.message_id, history[-1].id)


async def test_long_reply_is_split_and_streaming_is_throttled(tmp_path: Path,
                                                              fake: FakeDiscord) -> None:
    words = " ".join(f"word{i:04d}" for i in range(500))  # ~4,500 characters
    app = await make_app(tmp_path, [ScriptedModel("slow", words, delay=0.006)])
    run = await start_bot(app, fake)
    try:
        await asyncio.wait_for(run.bot.wait_until_ready(), 20)
        started = asyncio.get_running_loop().time()
        await fake.user_says("tell me everything", mention=True)
        await until(lambda: len(fake.bot_messages(fake.channel_id)) >= 3 and not any(
            m["content"].endswith(" …") for m in fake.bot_messages(fake.channel_id)), 30)
        took = asyncio.get_running_loop().time() - started
        parts = fake.bot_messages(fake.channel_id)
        assert all(len(m["content"]) <= 2000 for m in parts)
        assert " ".join(m["content"] for m in parts).split() == words.split()
        streaming_edits = [c for c in fake.edits() if c.body.get("content", "").endswith(" …")]
        assert 1 <= len(streaming_edits) <= took / 1.0 + 2  # at most about one per second
    finally:
        await run.bot.close()
        await run.task
        await app.close()


async def test_rate_limit_is_polite(tmp_path: Path, fake: FakeDiscord) -> None:
    app = await make_app(tmp_path, [StubModel("a")], rate_limit=2, rate_window_s=60)
    run = await start_bot(app, fake)
    try:
        await asyncio.wait_for(run.bot.wait_until_ready(), 20)
        for _ in range(3):
            await fake.user_says("again", mention=True)
        await until(lambda: len(fake.bot_messages(fake.channel_id)) == 3)
        assert any("Slow down a little, Bob" in m["content"]
                   for m in fake.bot_messages(fake.channel_id))
    finally:
        await run.bot.close()
        await run.task
        await app.close()


async def test_generation_error_is_an_apology_and_the_bot_keeps_running(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    app = await make_app(tmp_path, [StubModel("bad", fail_after=0)])
    run = await start_bot(app, fake)
    try:
        await asyncio.wait_for(run.bot.wait_until_ready(), 20)
        await fake.user_says("hello", mention=True)
        await fake.user_says("hello again", mention=True)
        await until(lambda: len(fake.bot_messages(fake.channel_id)) == 2)
        assert all("Sorry, one of my models is unavailable" in m["content"]
                   for m in fake.bot_messages(fake.channel_id))
        assert not run.task.done()
    finally:
        await run.bot.close()
        await run.task
        await app.close()


async def test_reconnects_after_the_gateway_drops(running: Running, fake: FakeDiscord) -> None:
    await until(lambda: len(fake.identifies) == 1)
    await fake.drop_connection()
    await until(lambda: len(fake.identifies) == 2 and fake.ready.is_set(), 30)
    await fake.user_says("still there?", mention=True)
    await replies_in(fake, fake.channel_id)


async def test_weekly_report_goes_to_the_report_channel_as_an_embed(
    running: Running, fake: FakeDiscord
) -> None:
    await fake.user_says("hello", mention=True)
    await replies_in(fake, fake.channel_id)
    await fake.slash("report", "channel", uid=fake.member_id, channel=("channel", fake.channel_id))
    await until(lambda: len(fake.followups()) == 1)
    assert "Only admins" in fake.followups()[0].body["content"]
    await fake.slash("report", "schedule", uid=fake.admin_id, weekday="funday", hour=9)
    await until(lambda: len(fake.followups()) == 2)
    assert "not a weekday" in fake.followups()[1].body["content"]
    await fake.slash("report", "channel", uid=fake.admin_id, channel=("channel", fake.channel_id))
    await until(lambda: len(fake.followups()) == 3)
    assert "every mon at 09:00 UTC" in fake.followups()[2].body["content"]
    await fake.slash("report", "now", uid=fake.admin_id)
    await until(lambda: any(c.body.get("embeds") for c in fake.posts()), 30)
    post = next(c for c in fake.posts() if c.body.get("embeds"))
    embed = post.body["embeds"][0]
    assert embed["title"] == "Weekly report" and embed["image"]["url"] == "attachment://report.png"
    assert post.body["_files"]["report.png"][:4] == b"\x89PNG"
    assert post.body["allowed_mentions"]["parse"] == []


async def test_a_pinned_fact_reaches_the_prompt_and_can_be_unpinned(
        running: Running, fake: FakeDiscord) -> None:
    await fake.slash("remember", uid=fake.admin_id, fact="The tea room opens at nine")
    await until(lambda: len(fake.followups()) == 1)
    assert "remember that (for this channel)" in fake.followups()[0].body["content"]
    await fake.user_says("when do we open?", mention=True)
    await replies_in(fake, fake.channel_id)
    prompts = [c for m in running.app.engine.models.values()
               for c in getattr(m, "calls", [])]
    assert prompts and prompts[-1].facts == ("The tea room opens at nine",)
    await fake.slash("memories", uid=fake.member_id)
    await until(lambda: len(fake.followups()) == 2)
    assert "1. The tea room opens at nine" in fake.followups()[1].body["content"]
    await fake.slash("forget_memory", uid=fake.member_id, n=1)  # a channel fact: admins
    await until(lambda: len(fake.followups()) == 3)
    assert "Only admins" in fake.followups()[2].body["content"]
    await fake.slash("forget_memory", uid=fake.admin_id, n=1)
    await until(lambda: len(fake.followups()) == 4)
    assert "Forgotten" in fake.followups()[3].body["content"]
