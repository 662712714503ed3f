"""Case 1: what a user reads after a failure is a sentence the core chose; URL credentials
never reach a reply or the log (even at DEBUG)."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator

from bot.conversation.stages.generate import MODEL_UNAVAILABLE
from bot.logs import RedactingFormatter
from bot.storage import Store
from engines import BlendedEngine, Conversation, Generation, ModelError, SamplingParams
from engines.redact import redact
from tests.memory_outbox import MemoryOutbox, core_for, event
from tests.stubs import StubModel

SECRET = "hunter2PASSWORD"
URL = f"http://bob:{SECRET}@10.1.2.3:9/v1"
TOKEN = "123456789:AAFakeTelegramTokenValue_abcdefghij"


class Unreachable(StubModel):
    async def stream(self, conversation: Conversation, params: SamplingParams, *,
                     channel: str | None = None) -> AsyncIterator[str | Generation]:
        self.calls.append(conversation)
        raise ModelError(f"model '{self.id}': cannot connect to {URL} (/srv/secret/path)")
        yield ""  # pragma: no cover


def test_redact_strips_userinfo_and_secret_query_values() -> None:
    assert SECRET not in redact(f"GET {URL}/chat?api_key=sk-1&x=2")
    assert "sk-1" not in redact("https://h/v1?api_key=sk-1")
    assert TOKEN not in redact(f"https://api.telegram.org/bot{TOKEN}/getMe")
    assert redact("http://host:8080/v1") == "http://host:8080/v1"


async def test_failed_reply_shows_a_fixed_sentence_and_logs_no_credential(
        store: Store) -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        core = core_for(store, BlendedEngine([Unreachable("remote")], seed=1))
        outbox = MemoryOutbox()
        for text in ("hello", f"my token is in {URL}", "again?"):
            outcome = await core.handle(event(text), outbox)
            assert outcome.kind == "error"
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    shown = " ".join(outbox.texts())
    assert outbox.texts()[0] == MODEL_UNAVAILABLE
    assert "10.1.2.3" not in shown and "/srv/secret" not in shown
    assert SECRET not in buffer.getvalue()
    assert "Traceback" not in "\n".join(
        line for line in buffer.getvalue().splitlines() if line.startswith("WARNING"))
