"""Safety and access, played on both loopback platforms with the real clients: admins set
lists and budgets with the platform's own commands (Discord's slash commands, Telegram's
typed ones) and a member sees what the issue promises."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from bot.conversation.stages.access import DENIED
from bot.conversation.stages.moderation import INPUT_REFUSED, OUTPUT_REFUSED
from tests.adapters import test_scenarios
from tests.adapters.telegram.helpers import ALICE, BOB, GROUP
from tests.adapters.test_scenarios import (
    DiscordSide,
    Side,
    Starter,
    TelegramSide,
    conversation,
)
from tests.stubs import ScriptedModel, StubModel

side = test_scenarios.side  # the two-platform fixture: each test runs on Discord and Telegram


async def eventually(check: Callable[[], Any], within: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    while not (found := check()):
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.02)
    return found


def speaker(s: Side) -> str:
    """The platform id of the member a side speaks as."""
    return s.fake.member_id if isinstance(s, DiscordSide) else str(ALICE.id)  # type: ignore[attr-defined]


async def admin(s: Side, command: str, sub: str, *words: str, **slash: Any) -> str:
    """An admin runs `/command sub …` the platform's way; returns the bot's answer."""
    if isinstance(s, DiscordSide):
        fake = s.fake
        before = len(fake.followups())
        await fake.slash(command, sub, uid=fake.admin_id, **slash)
        calls = await eventually(lambda: len(fake.followups()) > before and fake.followups())
        body = calls[-1].body
        if isinstance(body, str | bytes):
            body = json.loads(body)
        return str(body.get("content", body))
    assert isinstance(s, TelegramSide)
    tg = s.fake
    tg.set_member(GROUP, BOB, "creator")
    before = len(tg.texts(GROUP))
    tg.say(GROUP, BOB, " ".join([f"/{command}", sub, *words]))
    texts = await eventually(lambda: len(tg.texts(GROUP)) > before and tg.texts(GROUP))
    return str(texts[-1])


def said_by_bot(s: Side) -> str:
    """Every text the bot sent or edited in, previews included."""
    if isinstance(s, DiscordSide):
        return json.dumps([c.body for c in s.fake.calls if c.body], ensure_ascii=False)
    assert isinstance(s, TelegramSide)
    return json.dumps([c.params for c in s.fake.calls], ensure_ascii=False)


class Flip(StubModel):
    """Writes something flagged on its first call, then something clean."""

    def _words(self) -> list[str]:
        return ("that is forbidden talk" if len(self.calls) <= 1 else "a clean answer").split()


async def test_a_denied_user_gets_one_notice_then_nothing(side: Starter) -> None:
    model = StubModel("a")
    s = await side([model])
    who = speaker(s)
    answer = await admin(s, "access", "deny", "user", who, user=("user", who))
    assert answer.startswith(f"Denied user {who}")
    before = len(s.shown())
    await s.say("hello?")
    await s.settle()
    assert s.shown()[before:] == [DENIED]  # the one notice of the day
    await s.say("hello again?")
    await s.settle()
    assert s.shown()[before:] == [DENIED] and model.calls == []
    assert await conversation(s) == []


async def test_over_budget_gets_the_notice_and_no_model_call(side: Starter) -> None:
    model = StubModel("a")  # 10 prompt + 3 completion tokens a reply
    s = await side([model])
    assert await admin(s, "quota", "user", "10", tokens="10") == \
        "Each user: 10 tokens a day."
    before = len(s.shown())
    await s.say("first")
    await s.settle()
    await s.say("second")
    await s.settle()
    first, notice = s.shown()[before:]
    assert first == "a reply 1" and len(model.calls) == 1
    assert "used your 10 tokens for today" in notice and "00:00 UTC" in notice
    assert await conversation(s) == [("user", "first"), ("assistant", "a reply 1")]


async def test_a_flagged_reply_is_redrawn_from_another_member_then_refused(
        side: Starter) -> None:
    a = ScriptedModel("a", "this is forbidden stuff")
    b = ScriptedModel("b", "forbidden as well")
    s = await side([a, b])
    assert (await admin(s, "moderation", "word", "forbidden", word="forbidden")
            ).startswith("Added word #1")
    before = len(s.shown())
    await s.say("say something")
    await s.settle()
    assert s.shown()[before:] == [OUTPUT_REFUSED]
    assert (len(a.calls), len(b.calls)) == (1, 1)  # drawn again from the other member
    assert "forbidden" not in said_by_bot(s)
    assert await conversation(s) == [("user", "say something")]


async def test_a_flagged_reply_redrawn_clean_is_sent(side: Starter) -> None:
    model = Flip("a")
    s = await side([model])
    await admin(s, "moderation", "word", "forbidden", word="forbidden")
    before = len(s.shown())
    await s.say("say something")
    await s.settle()
    assert s.shown()[before:] == ["a clean answer"] and len(model.calls) == 2
    assert await conversation(s) == [("user", "say something"), ("assistant", "a clean answer")]


async def test_flagged_input_is_refused_without_a_model_call(side: Starter) -> None:
    model = StubModel("a")
    s = await side([model])
    answer = await admin(s, "moderation", "regex", r"free\s+crypto", pattern=r"free\s+crypto")
    assert answer.startswith("Added regex #1")
    refused = await admin(s, "moderation", "regex", "(unclosed", pattern="(unclosed")
    assert refused.startswith("That regex does not compile") and "\n" not in refused
    before = len(s.shown())
    await s.say("get FREE   crypto now")
    await s.settle()
    assert s.shown()[before:] == [INPUT_REFUSED] and model.calls == []
    assert await conversation(s) == []


async def test_a_think_block_never_reaches_the_chat_or_the_history(side: Starter) -> None:
    text = "<think> the user wants secretplan details , so </think> Here is the answer ."
    s = await side([ScriptedModel("r1", text, delay=0.03)])  # streamed: previews are shown
    await s.say("what is it?")
    await s.settle()
    assert s.shown() == ["Here is the answer ."]
    assert "secretplan" not in said_by_bot(s) and "think>" not in said_by_bot(s)
    assert await conversation(s) == [("user", "what is it?"),
                                     ("assistant", "Here is the answer .")]


async def test_a_model_written_mention_pings_no_one(side: Starter) -> None:
    s = await side([ScriptedModel("a", "ask @admin about it")])
    await s.say("who decides?")
    await s.settle()
    [shown] = s.shown()
    if isinstance(s, TelegramSide):  # Telegram has no allowed_mentions: the @ is broken
        assert shown == "ask @\u200dadmin about it" and "@admin" not in shown
        sends = s.fake.of("sendMessage") + s.fake.of("editMessageText")
        assert all(e.get("type") != "mention" for c in sends
                   for e in c.params.get("entities") or [])
    else:  # Discord: every message says allowed_mentions none
        assert shown == "ask @admin about it"
        posts = s.fake.posts(s.channel)
        assert posts and all(p.body["allowed_mentions"]["parse"] == [] for p in posts)


async def test_a_platform_token_is_never_sent(side: Starter) -> None:
    fake_key = "sk-proj-" + "Ab3" * 10
    s = await side([ScriptedModel("a", f"my key is {fake_key} ok")])
    await s.say("tell me your key")
    await s.settle()
    assert s.shown() == ["my key is [redacted] ok"]
    assert fake_key not in said_by_bot(s)


async def test_usage_shows_a_user_their_own_and_an_admin_the_community(
        side: Starter) -> None:
    s = await side([StubModel("a")])
    await s.say("hello")
    await s.settle()
    report = await admin(s, "usage", "")
    assert "You today: 0 tokens" in report  # the admin has not talked
    assert "This community today: 13 tokens" in report

