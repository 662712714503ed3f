"""The safety stages and rules on the in-memory platform: access lists (users, roles,
channels), budgets and spend caps, moderation (lists, an endpoint that flags or is down,
the mod-log), output hygiene; and a fuzz of the commands that set them."""

from __future__ import annotations

import random
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import select

from bot.conversation import Conversations, InboundEvent
from bot.conversation.menu import run_text
from bot.conversation.safety import ModerationEndpoint, Price, SafetyOptions
from bot.conversation.safety.access import allowed
from bot.conversation.safety.hygiene import (
    REDACTED,
    Secrets,
    strip_reasoning,
    unping,
    visible_so_far,
)
from bot.conversation.safety.moderation import PatternError, compile_pattern, matching
from bot.conversation.safety_commands import parse_tokens
from bot.conversation.stages.moderation import INPUT_REFUSED, OUTPUT_REFUSED
from bot.conversation.stages.quota import today
from bot.storage import Store
from bot.storage.safety import Pattern, Rule
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import ScriptedModel, StubModel

ADMIN = event("", "Root", is_admin=True)


def make(store: Store, models: list[Any], **safety: Any) -> Conversations:
    return core_for(store, models, rate_limit=1000, safety=SafetyOptions(**safety))


async def say(core: Conversations, text: str, user: str = "Alice", uid: str | None = None,
              **fields: Any) -> Any:
    said = event(text, user, **fields)
    return await core.handle(replace(said, user_id=uid) if uid else said, MemoryOutbox())


async def command(core: Conversations, line: str, who: InboundEvent = ADMIN) -> Any:
    words = line.split()
    return await run_text(core.commands, who, words[0], words[1:])


# ---- output hygiene ------------------------------------------------------------------------

@pytest.mark.parametrize(("written", "shown"), [
    ("<think>plan</think>Hello", "Hello"),
    ("<THINKING>a\nb</THINKING>\n\nHi <reasoning>x</reasoning>there", "\n\nHi there"),
    ("the template opened it</think>Answer", "Answer"),
    ("Answer first <think>then it ran out", "Answer first "),
    ("<|begin_of_thought|>hmm<|end_of_thought|>ok", "ok"),
    ("a < b and c > d", "a < b and c > d"),
])
def test_reasoning_blocks_are_stripped(written: str, shown: str) -> None:
    assert strip_reasoning(written) == shown


def test_a_preview_never_shows_a_partial_block_or_tag() -> None:
    assert visible_so_far("<think>half a tho") == ""
    assert visible_so_far("Hi <thi") == "Hi "
    assert visible_so_far("Hi <think>x</thi") == "Hi "
    assert visible_so_far("Hi there") == "Hi there"


def test_mentions_are_neutralised_but_addresses_are_not() -> None:
    assert unping("ask @admin or @Some_User.") == "ask @\u200dadmin or @\u200dSome_User."
    assert unping("mail me@example.com, @ab, @@x") == "mail me@example.com, @ab, @@x"


def test_secrets_and_token_shapes_are_never_sent() -> None:
    secrets = Secrets(["hunter2-is-my-token", "short"])
    discord_token = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe." + "x" * 30
    telegram_token = "123456789:AA" + "b" * 33
    text = f"a hunter2-is-my-token b {discord_token} c {telegram_token} d sk-{'z' * 24}"
    assert secrets(text) == f"a {REDACTED} b {REDACTED} c {REDACTED} d {REDACTED}"
    assert secrets("a short word") == "a short word" and "hunter2" not in repr(secrets)


async def test_the_process_secrets_never_reach_the_chat_or_the_history(
        store: Store) -> None:
    key = "not-shaped-like-a-token-0123"
    model = ScriptedModel("a", f"the key is {key} , see", delay=0.02)
    core = core_for(store, [model], secrets=(key,))
    outbox = MemoryOutbox()
    reply = await core.handle(event("key?"), outbox)
    assert reply.text == f"the key is {REDACTED} , see"
    assert all(key not in text for _, _, text in outbox.calls)
    assert key not in (await core.service.history("discord", "c1"))[-1].text


# ---- access --------------------------------------------------------------------------------

def test_access_deny_wins_and_allow_lists_keep_others_out() -> None:
    community_deny = [Rule("deny", "user", "u1")]
    assert not allowed(community_deny, 5, "u1") and allowed(community_deny, 5, "u2")
    allow_role = [Rule("allow", "role", "r1"), Rule("deny", "user", "u3")]
    assert allowed(allow_role, 5, "u2", ["r1"]) and not allowed(allow_role, 5, "u2", ["r2"])
    assert not allowed(allow_role, 5, "u3", ["r1"])  # a deny wins over an allowed role
    channel_only = [Rule("allow", "user", "u1", channel_id=5)]
    assert allowed(channel_only, 6, "u2") and not allowed(channel_only, 5, "u2")


async def test_a_denied_role_is_ignored_and_a_channel_rule_stays_in_its_channel(
        store: Store) -> None:
    model = StubModel("a")
    core = make(store, [model])
    done = await core.commands.safety.access(ADMIN, "deny", "role", "<@&77>")
    assert done.ok
    denied = await say(core, "hi", role_ids=("77",))
    again = await say(core, "hi again", role_ids=("77",))
    assert (denied.kind, denied.reason, again.kind) == ("notice", "denied", "ignored")
    assert (await say(core, "hi", user="Bob", role_ids=("78",))).kind == "reply"
    here = replace(ADMIN, channel_id="c2")
    assert (await core.commands.safety.access(here, "deny", "user", "42", here=True)).ok
    assert (await say(core, "in c2", user="Bob", uid="42", channel="c2")).reason == "denied"
    assert (await say(core, "in c1", user="Bob", uid="42")).kind == "reply"
    listed = (await command(core, "access list", here)).text
    assert "deny role 77" in listed and "deny user 42 (this channel)" in listed
    assert (await command(core, "access remove role 77")).text.startswith("Removed")
    assert (await say(core, "back", role_ids=("77",))).kind == "reply"


# ---- budgets and spend caps -----------------------------------------------------------------

async def test_a_role_budget_replaces_the_user_budget_and_admins_are_exempt(
        store: Store) -> None:
    core = make(store, [StubModel("a")], user_tokens=10)
    await core.commands.safety.quota(replace(ADMIN, platform="discord"), "role", "20",
                                     role="55")
    for _ in range(2):  # 13 tokens a reply: the second starts at 13 < 20
        assert (await say(core, "x", role_ids=("55",))).kind == "reply"
    over = await say(core, "x", role_ids=("55",))
    assert over.reason == "over budget" and "20 tokens" in over.text
    assert (await say(core, "x", user="Bob")).kind == "reply"
    assert (await say(core, "x", user="Bob")).reason == "over budget"
    assert (await say(core, "x", user="Bob", is_admin=True)).kind == "reply"


async def test_a_model_over_its_spend_cap_is_not_drawn_then_a_notice(store: Store) -> None:
    pricey, cheap = StubModel("pricey"), StubModel("cheap")
    prices = {"pricey": Price(1.0, 1.0, daily_cap=0.01), "cheap": Price(0, 0, daily_cap=0.01)}
    core = make(store, [pricey, cheap], prices=prices)
    while not pricey.calls:  # until the pricey one has answered once (13 tokens: 0.013)
        await say(core, "x")
    before = len(cheap.calls)
    for _ in range(4):
        assert (await say(core, "x")).model_id == "cheap"
    assert len(pricey.calls) == 1 and len(cheap.calls) == before + 4
    usage = (await command(core, "usage")).text
    assert "pricey: spent 0.013 of 0.01 today" in usage
    single = await core.commands.blend_mode(ADMIN, "single", "pricey")
    assert single.ok
    capped = await say(core, "x")
    assert capped.reason == "spend cap" and "00:00 UTC" in capped.text


async def test_usage_for_a_member_shows_only_their_own(store: Store) -> None:
    core = make(store, [StubModel("a")], user_tokens=100)
    await say(core, "x")
    mine = (await core.commands.safety.usage(event("", "Alice"))).text
    assert mine.startswith("You today: 13 tokens of 100.") and "community" not in mine


# ---- moderation ----------------------------------------------------------------------------

def test_patterns_compile_or_are_refused_in_one_line() -> None:
    word = compile_pattern("word", "tea")
    assert word.search("More TEA?") and not word.search("steam")
    for bad in ("(", "[a-", "a{2,1}", "x" * 201, "   "):
        with pytest.raises(PatternError) as caught:
            compile_pattern("regex", bad)
        assert "\n" not in str(caught.value)


def test_a_slow_regex_times_out_instead_of_stalling_the_turn() -> None:
    slow = Pattern(1, "regex", "(a|aa)+$")
    found = matching("a" * 5000 + "b c", [slow, Pattern(2, "word", "c")])
    assert found is not None and found.rule == "word #2"


class Moderations:
    """An OpenAI-compatible `/v1/moderations` that flags any text with "knife" (or is down)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.down = False

    async def handle(self, request: web.Request) -> web.Response:
        if self.down:
            return web.Response(status=503)
        text = (await request.json())["input"]
        self.seen.append(text)
        flagged = "knife" in text
        return web.json_response({"id": "m", "model": "omni", "results": [
            {"flagged": flagged, "categories": {"violence": flagged, "hate": False}}]})


@pytest.fixture
async def moderations() -> AsyncIterator[tuple[Moderations, str]]:
    server = Moderations()
    app = web.Application()
    app.router.add_post("/v1/moderations", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield server, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_an_endpoint_flags_input_and_output_and_the_mod_log_gets_one_line(
        store: Store, moderations: tuple[Moderations, str]) -> None:
    server, url = moderations
    model = ScriptedModel("a", "use a knife")
    core = make(store, [model], endpoint=ModerationEndpoint(url))
    lines: list[tuple[str, str]] = []

    async def post(channel: str, text: str) -> None:
        lines.append((channel, text))

    core.register_modlog_sink("discord", post)
    assert (await command(core, "moderation log here")).ok
    refused = await say(core, "where is my knife")
    assert (refused.kind, refused.text, model.calls) == ("notice", INPUT_REFUSED, [])
    withheld = await say(core, "how do I cut bread?")
    assert (withheld.text, len(model.calls)) == (OUTPUT_REFUSED, 2)  # drawn again once
    channel = await core.service.channel(ADMIN)
    used = await core.service.safety.community_use(today().toordinal(), channel.community_id)
    assert used.tokens > 0  # a withheld reply is not stored, but what it cost is counted
    assert server.seen == ["where is my knife", "how do I cut bread?", "use a knife",
                           "use a knife"]
    assert len(lines) == 3 and all(c == "c1" for c, _ in lines)
    assert lines[0][1] == "🛡 message refused: Alice (alice) in general — endpoint: violence"
    assert "knife" not in " ".join(t for _, t in lines)  # the text only if turned on
    await command(core, "moderation text on")
    await say(core, "a knife again")
    assert lines[-1][1].endswith("\n> a knife again")


async def test_an_endpoint_that_is_down_lets_input_through_and_refuses_output(
        store: Store, moderations: tuple[Moderations, str],
        caplog: pytest.LogCaptureFixture) -> None:
    server, url = moderations
    server.down = True
    model = StubModel("a")
    core = make(store, [model], endpoint=ModerationEndpoint(url))
    outcome = await say(core, "hello")
    assert outcome.text == OUTPUT_REFUSED and len(model.calls) == 2
    assert "moderation endpoint down" in caplog.text
    with socket.socket() as probe:  # nothing listens here: refused at once
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    nowhere = ModerationEndpoint(f"http://127.0.0.1:{free}/v1", timeout_s=2)
    core = make(store, [StubModel("b")], endpoint=nowhere, input_fail="closed",
                output_fail="open")
    assert (await say(core, "hi", channel="c9")).text == INPUT_REFUSED


async def test_a_listed_word_stops_the_preview_before_it(store: Store) -> None:
    model = ScriptedModel("a", "one two three forbidden four", delay=0.03)
    core = make(store, [model])
    await command(core, "moderation word forbidden")
    outbox = MemoryOutbox()
    await core.handle(event("talk"), outbox)
    assert not any("forbidden" in text for _, _, text in outbox.calls)
    assert outbox.texts() == [OUTPUT_REFUSED]


# ---- fuzz: bad input is one line, never a traceback ----------------------------------------

WORDS = ["", "allow", "deny", "remove", "list", "user", "role", "here", "off", "on", "log",
         "text", "word", "regex", "community", "-1", "0", "1e9", "99999999999999999999999",
         "20k", "2.5m", "abc", "<@&12>", "<@!34>", "@", "NaN", "inf", "﷽", "\u0000", "\x85",
         "(", "[", "*", "(?", "(a+)+$", "\\", "\\p{L}", "(?<=a+)b", "{1,}", "#2", "  ", "\n",
         "x" * 300, "😀" * 70, "ǅ", "\u202e", "%s", "{0}", "'; DROP TABLE users; --"]


async def test_fuzzed_commands_never_raise(store: Store) -> None:
    core = make(store, [StubModel("a")])
    rng = random.Random(18)
    member = event("", "Bob")
    tried = 0
    for n in range(600):
        name = rng.choice(["access", "quota", "moderation", "usage"])
        words = [rng.choice(WORDS) for _ in range(rng.randint(0, 4))]
        who = ADMIN if n % 3 else member
        if n % 5 == 0:
            who = replace(who, platform="telegram")
        result = await run_text(core.commands, who, name, words)
        assert result is not None and result.text.strip()
        assert "Traceback" not in result.text
        if not result.ok:
            assert len(result.text.splitlines()) == 1, (name, words, result.text)
        tried += 1
    for value in WORDS:
        try:
            parse_tokens(value)
        except ValueError as exc:
            assert "\n" not in str(exc)
        for kind in ("word", "regex"):
            try:
                compile_pattern(kind, value)
            except PatternError as exc:
                assert "\n" not in str(exc)
        tried += 3
    after = await say(core, "still answers")  # whatever was set: answered or refused
    assert after.kind != "error" and after.reason != "internal"
    print(f"fuzzed {tried} bad inputs, none raised")
    assert tried == 600 + 3 * len(WORDS)


async def test_forget_and_community_delete_take_the_safety_rows_too(store: Store) -> None:
    from bot.storage.privacy import Privacy
    from bot.storage.tables import AccessRule, TokenUsage

    core = make(store, [StubModel("a")])
    await say(core, "x")
    await core.commands.safety.access(ADMIN, "deny", "user", "42")
    alice = await store.ensure_user("discord", "alice", "Alice")
    channel = await core.service.channel(ADMIN)
    day = today().toordinal()
    assert (await core.service.safety.user_use(day, channel.community_id, alice)).tokens == 13
    await Privacy(store).forget_user(alice)
    async with store.session() as s:
        assert (await s.scalars(select(TokenUsage))).all() == []
    await Privacy(store).delete_community(channel.community_id)
    async with store.session() as s:
        assert (await s.scalars(select(AccessRule))).all() == []
