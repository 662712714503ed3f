"""The weekly report reaches the Telegram report chat as a photo with a caption."""

from __future__ import annotations

from bot.app import App
from tests.fakes.telegram_api import FakeTelegram

from .helpers import ALICE, BOB, GROUP, nth_message


async def test_report_here_and_now_posts_a_photo_with_caption(app: App,
                                                              fake: FakeTelegram) -> None:
    fake.say(GROUP, BOB, "/report here")
    refused = await nth_message(fake, GROUP, 1)
    assert "Only admins" in refused.params["text"]
    fake.set_member(GROUP, ALICE, "administrator")
    fake.say(GROUP, ALICE, "/report schedule someday 9")
    bad = await nth_message(fake, GROUP, 2)
    assert "not a weekday" in bad.params["text"]
    fake.say(GROUP, ALICE, "/report here")
    done = await nth_message(fake, GROUP, 3)
    assert "every mon at 09:00 UTC" in done.params["text"]
    fake.say(GROUP, ALICE, "/report now")
    photo = await fake.wait_for(lambda: fake.of("sendPhoto"))
    call = photo[0]
    assert int(call.params["chat_id"]) == GROUP.id
    assert call.params["photo"][:4] == b"\x89PNG"
    assert call.params["caption"] and len(call.params["caption"]) <= 1024
    assert "parse_mode" not in call.params
