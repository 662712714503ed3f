"""Pure pieces of the Telegram adapter: the command menu, mentions, Telegram's numbers."""

from __future__ import annotations

from telegram import User

from bot.adapters.telegram.incoming import Place, without_mention
from bot.adapters.telegram.outbox import LIMIT, TelegramOptions, units
from bot.conversation.menu import MENU, RUN
from bot.conversation.render import compose, split

ME = User(4242, "Blendbot", is_bot=True, username="blendtestbot")


def test_every_menu_command_has_a_meaning() -> None:
    assert set(RUN) == {name for name, _ in MENU}
    assert all(1 <= len(name) <= 32 and name.islower() for name, _ in MENU)


def test_the_mention_is_taken_out_of_the_text() -> None:
    assert without_mention("@BlendTestBot  what is tea?", ME) == "what is tea?"
    assert without_mention("so, @blendtestbot, why?", ME) == "so, , why?"
    assert without_mention("@blendtestbotx hi", ME) == "@blendtestbotx hi"


def test_compose_adds_notices_and_the_disclosed_model() -> None:
    limits = TelegramOptions().limits(Place(1, None, True))
    notices = ("your message was shortened",)
    assert compose("Hello", notices, "gemma3-270m", False, limits) == (
        "Hello\n\n(your message was shortened)")
    assert compose("Hello", notices, "gemma3-270m", True, limits).endswith("\n\n— gemma3-270m")
    assert compose("Slow down", (), None, True, limits) == "Slow down"


def test_parts_fit_telegram_counting_utf16() -> None:
    text = " ".join(["🍵🌱"] * 2000)  # 5,999 characters, 9,999 UTF-16 units
    parts = split(text, TelegramOptions().limits(Place(1, None, True)))
    assert len(parts) == 3 and all(units(p) <= LIMIT for p in parts)
    assert " ".join(parts) == text


def test_groups_share_a_budget_of_twenty_a_minute_and_private_chats_one_a_second() -> None:
    group = TelegramOptions().limits(Place(-5, None, False))
    private = TelegramOptions().limits(Place(7, None, True))
    assert [(b.limit, b.period_s) for b in group.budgets] == [(30, 1.0), (20, 60.0)]
    assert [(b.limit, b.period_s) for b in private.budgets] == [(30, 1.0), (1, 1.0)]
    assert group.edit_interval_s == 3.0 and private.edit_interval_s == 1.0
