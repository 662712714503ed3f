"""Issue 18's acceptance path for `forget`: a community imported through the CLI, one user
forgotten; their text and id are gone from the export and from the database files, others'
messages stay, reports still run. And bad `forget`/`community` arguments: one line, exit 2,
nothing deleted."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest

from bot.analytics import MessageEvent, format_events
from bot.analytics.events import FeedbackEvent
from bot.analytics.synthetic import SyntheticCommunity, generate
from bot.cli import main

SECRET = "u7 whispers the launch code tangerine-9431"  # only u7 wrote this
REPLY = "the bot answers u7: tangerine acknowledged"  # the bot's reply to u7
OTHER = "u8 talks about the weather in Lisbon"  # someone else's message in that channel


def community_events() -> tuple[SyntheticCommunity, list]:
    spec = SyntheticCommunity(users=30, zeta=0.5, seed=5, community="g-privacy")
    events = generate(spec)
    t = spec.start + timedelta(days=2, hours=10)

    def msg(n: int, user: str, role: str, text: str, model: str | None = None
            ) -> MessageEvent:
        return MessageEvent(f"shared-{n}", t + timedelta(minutes=n), "discord", "g-privacy",
                            "general", user, role, model, text)  # type: ignore[arg-type]

    shared = [msg(1, "u7", "user", SECRET), msg(2, "blendbot", "bot", REPLY, "gemma3-270m"),
              msg(3, "u8", "user", OTHER),
              msg(4, "blendbot", "bot", "a reply to u8 about rain", "smollm2-135m"),
              msg(5, "u7", "user", SECRET + " again")]
    thumbs = [FeedbackEvent(t + timedelta(minutes=6), "discord", "g-privacy", "general", "u7",
                            "shared-4", "up"),
              FeedbackEvent(t + timedelta(minutes=6), "discord", "g-privacy", "general", "u8",
                            "shared-2", "down")]
    return spec, sorted([*events, *shared, *thumbs], key=lambda e: e.ts)


def database_bytes(data_dir: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(data_dir.glob("blendbot.db*")))


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """`blendbot ARGS…` in this process (the same entry point), on a data dir of its own:
    returns (exit code, stdout, stderr)."""
    for key in ("BLENDBOT_CONFIG", "BLENDBOT_DATABASE_URL", "DISCORD_TOKEN", "TELEGRAM_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: usage errors
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_forget_removes_a_user_from_export_and_from_the_database_files(tmp_path: Path,
                                                                       cli) -> None:
    spec, events = community_events()
    path = tmp_path / "events.jsonl"
    path.write_text("".join(format_events(events)), encoding="utf-8")
    assert cli("analytics", "import", str(path))[0] == 0
    before = database_bytes(tmp_path)
    assert SECRET.encode() in before and b"discordu7" in before  # the check can fail

    held = sqlite3.connect(tmp_path / "blendbot.db")  # as a running bot holds the file open
    held.execute("SELECT count(*) FROM messages").fetchall()  # (the log is not removed then)
    code, out, err = cli("forget", "discord:u7", "--yes")
    assert code == 0, err
    assert "2 messages, 1 replies to them, 1 feedback" in out

    code, out, err = cli("analytics", "export")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert not [r for r in rows if r["user"] == "u7" or "u7" in r.get("text", "")
                or "tangerine" in r.get("text", "")]
    texts = {r["text"] for r in rows if r["type"] == "message"}
    assert OTHER in texts and "a reply to u8 about rain" in texts  # others' messages stay
    kept = sum(1 for e in events if isinstance(e, MessageEvent) and e.user != "u7")
    assert sum(1 for r in rows if r["type"] == "message") == kept - 1  # less the reply to u7

    after = database_bytes(tmp_path)
    held.close()
    assert b"tangerine" not in after and b"discordu7" not in after
    assert OTHER.encode() in after

    code, out, err = cli("report", "g-privacy", "--since", spec.since.isoformat(),
                         "--until", spec.until.isoformat(), "--json")
    assert code == 0, err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["users"] == spec.users + 1  # the 30 synthetic users and u8

    code, _, err = cli("forget", "discord:u7", "--yes")  # nothing left of them
    assert code == 2 and err.count("\n") == 1


def test_an_admin_marks_a_card_nsfw_on_import(tmp_path: Path, cli) -> None:
    card = tmp_path / "vex.json"
    card.write_text(json.dumps({"spec": "chara_card_v2", "spec_version": "2.0",
                                "data": {"name": "Vex", "tags": ["romance"]}}))
    assert cli("persona", "import", str(card), "--nsfw")[0] == 0
    code, out, _ = cli("persona", "show", "Vex", "--json")
    shown = json.loads(out)
    assert code == 0 and shown["nsfw"] is True and shown["tags"] == ["romance", "NSFW"]


BAD_FORGET: list[list[str]] = [
    [], ["u7"], ["discord"], ["discord:"], [":u7"], ["slack:u7", "--yes"],
    ["discord:nobody", "--yes"], ["telegram:u7", "--yes"], ["discord:u7"],
    ["discord:u7", "--community", "nowhere", "--yes"],
    ["discord:u7", "--community", "telegram:g-x", "--yes"],
    ["discord:u7", "--community", "", "--yes"], ["discord:u7", "--community"],
    ["discord:" + "9" * 65, "--yes"], ["discord:u\x00 7", "--yes"],
    ["discord:\udcff\udcfe", "--yes"], ["discord:u7\n", "--yes"],
    ["discord:u7", "--community", "g-x:" * 40, "--yes"], ["discord:u7", "--yes", "--bogus"],
    ["discord:u8", "--community", "g-other", "--yes"],
    ["DISCORD:u7", "--yes"], ["discord:%s", "--yes"], ["discord:' OR 1=1 --", "--yes"],
    ["discord:u7", "--community", "\udcff", "--yes"], ["discord:u7", "-y"],
]
BAD_COMMUNITY: list[list[str]] = [
    [], ["export"], ["delete"], ["export", "nowhere"], ["delete", "nowhere", "--yes"],
    ["delete", "g-x"], ["delete", "telegram:g-x", "--yes"], ["export", ""],
    ["export", "\udcff"], ["delete", "g-x\x00", "--yes"], ["purge", "g-x"],
    ["export", "x" * 500], ["delete", "discord:", "--yes"], ["delete", ":", "--yes"],
    ["export", "g-x", "--json"],
]


@pytest.fixture
def small_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two communities: u7 and u8 in g-x, u8 alone in g-other."""
    events = [MessageEvent(f"m{n}", SyntheticCommunity().start + timedelta(minutes=n),
                           "discord", community, f"c-{community}", user, "user", None,
                           f"hello {n}")
              for n, (community, user) in enumerate([("g-x", "u7"), ("g-x", "u8"),
                                                     ("g-other", "u9")])]
    path = tmp_path / "e.jsonl"
    path.write_text("".join(format_events(events)), encoding="utf-8")
    for key in ("BLENDBOT_CONFIG", "BLENDBOT_DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("BLENDBOT_DATA_DIR", str(tmp_path))
    assert main(["analytics", "import", str(path)]) == 0
    return tmp_path


def test_bad_forget_and_community_arguments_are_one_line_and_delete_nothing(
        small_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    tried = 0
    for command, cases in (("forget", BAD_FORGET), ("community", BAD_COMMUNITY)):
        for args in cases:
            tried += 1
            try:
                code = main([command, *args])
            except SystemExit as exc:  # argparse: usage errors
                code = exc.code  # type: ignore[assignment]
            out, err = capsys.readouterr()
            assert code == 2, (args, code, out, err)
            assert "Traceback" not in err and err.count("\n") == 1, (args, err)
    assert tried == len(BAD_FORGET) + len(BAD_COMMUNITY) >= 40
    assert main(["analytics", "export"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3  # nothing was deleted

    assert main(["community", "export", "g-x"]) == 0
    assert [json.loads(line)["user"] for line in capsys.readouterr().out.splitlines()] == [
        "u7", "u8"]
    assert main(["forget", "discord:u7", "--community", "g-x", "--yes"]) == 0
    assert main(["community", "delete", "g-other", "--yes"]) == 0
    capsys.readouterr()
    assert main(["analytics", "export"]) == 0
    assert [json.loads(line)["user"] for line in capsys.readouterr().out.splitlines()] == [
        "u8"]
