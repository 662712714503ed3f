"""Pure pieces of the Telegram adapter: the command table, mentions, composing replies."""

from __future__ import annotations

from telegram import User

from bot.adapters.telegram.commands import MENU, RUN, bot_commands
from bot.adapters.telegram.incoming import without_mention
from bot.adapters.telegram.render import LIMIT, compose, split, units
from bot.service import Reply

ME = User(4242, "Blendbot", is_bot=True, username="blendtestbot")


def test_every_menu_command_has_a_meaning() -> None:
    assert set(RUN) == {name for name, _ in MENU}
    assert all(1 <= len(c.command) <= 32 and c.command.islower() for c in bot_commands())


def test_the_mention_is_taken_out_of_the_text() -> None:
    assert without_mention("@BlendTestBot  what is tea?", ME) == "what is tea?"
    assert without_mention("so, @blendtestbot, why?", ME) == "so, , why?"
    assert without_mention("@blendtestbotx hi", ME) == "@blendtestbotx hi"


def test_compose_adds_notices_and_the_disclosed_model() -> None:
    reply = Reply("reply", "Hello", "gemma3-270m", 7, ("your message was shortened",))
    assert compose(reply, False) == "Hello\n\n(your message was shortened)"
    assert compose(reply, True).endswith("\n\n— gemma3-270m")
    assert compose(Reply("hint", "Slow down"), True) == "Slow down"


def test_parts_fit_telegram_counting_utf16() -> None:
    text = " ".join(["🍵🌱"] * 2000)  # 5,999 characters, 9,999 UTF-16 units
    parts = split(text)
    assert len(parts) == 3 and all(units(p) <= LIMIT for p in parts)
    assert " ".join(parts) == text
