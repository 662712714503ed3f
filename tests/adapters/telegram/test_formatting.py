"""Markdown from a model reaches Telegram as entities (the fake reads them as the Bot API
does); Markdown that cannot be read, or entities Telegram refuses, arrive as plain text."""

from __future__ import annotations

import pytest

from tests.fakes.telegram_api import FakeTelegram
from tests.fakes.telegram_format import CannotParse, parse_markdown_v2
from tests.stubs import ScriptedModel

from .conftest import Starter
from .helpers import ALICE, DM, nth_message, sent

CODE_AND_LIST = ("Here is how:\n\n```python\nprint('hi')\n```\n\n"
                 "- **first**: boil water\n- *then* add `tea`")
SHOWN = "Here is how:\n\nprint('hi')\n\n• first: boil water\n• then add tea"
BROKEN = "This is **not closed and `neither is this [link](oops"


def spans(message: dict) -> dict[str, list[str]]:
    """What each entity marks, by type, as a reader sees it."""
    text, found = message["text"], {}
    raw = text.encode("utf-16-le")
    for e in message.get("entities", []):
        piece = raw[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le")
        found.setdefault(e["type"], []).append(piece)
    return found


async def test_a_code_block_and_a_list_arrive_as_entities(start_bot: Starter,
                                                          fake: FakeTelegram) -> None:
    await start_bot([ScriptedModel("md", CODE_AND_LIST)])
    fake.say(DM, ALICE, "How do I make tea?")
    await nth_message(fake, DM, 1)
    await fake.settle()
    message = fake.message(DM, fake.last_id(DM))
    assert fake.texts(DM) == [SHOWN]
    assert spans(message) == {"pre": ["print('hi')"], "bold": ["first"], "italic": ["then"],
                              "code": ["tea"]}
    assert [e.get("language") for e in message["entities"] if e["type"] == "pre"] == [
        "python"]


async def test_broken_markdown_arrives_as_plain_text(start_bot: Starter,
                                                     fake: FakeTelegram) -> None:
    await start_bot([ScriptedModel("md", BROKEN)])
    fake.say(DM, ALICE, "Say something odd")
    await nth_message(fake, DM, 1)
    await fake.settle()
    assert fake.texts(DM) == [BROKEN]
    assert all("entities" not in c.params and "parse_mode" not in c.params
               for c in sent(fake, DM) + fake.of("editMessageText"))


async def test_refused_entities_are_sent_again_as_plain_text(start_bot: Starter,
                                                             fake: FakeTelegram) -> None:
    await start_bot([ScriptedModel("md", CODE_AND_LIST)])
    fake.refuse_entities(50)  # every message with entities: 400 can't parse entities
    fake.say(DM, ALICE, "How do I make tea?")
    await nth_message(fake, DM, 1)
    await fake.settle()
    assert fake.texts(DM) == [CODE_AND_LIST]  # the reply, in full, as plain text
    refused = [c for c in fake.calls if c.status == 400]
    assert refused and all(c.params.get("entities") for c in refused)


def test_the_fake_reads_markdown_v2_as_strictly_as_telegram() -> None:
    assert parse_markdown_v2(r"*bold* and `code`\.") == ("bold and code.", [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "code", "offset": 9, "length": 4}])
    with pytest.raises(CannotParse, match="reserved"):
        parse_markdown_v2("Ends with a dot.")
    with pytest.raises(CannotParse, match="end of the entity"):
        parse_markdown_v2("*never closed")
