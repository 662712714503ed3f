"""`blendbot ranker refresh`: a community's own feedback makes a ranker that prefers what that
community prefers, and it is served only when it is not worse than the one served now."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from bot.config import Settings
from bot.database import store_for
from bot.ranker_active import refreshed_ranker, served_ranker, switch_to
from engines import BlendedEngine
from tests.clirun import blendbot
from tests.memory_outbox import MemoryOutbox, core_for, event, regenerate
from tests.stubs import StubModel

TOPICS = ("bread", "violin", "bike", "plan", "rest", "week", "day", "help")


class TwoDrafts(StubModel):
    """Writes a short, polite deflection first and, when asked again, a long on-topic answer.
    The shipped ranker learned from harmlessness pairs, where the short polite reply usually
    wins: this community's taste is the opposite, by a wide margin on any CPU's int8 kernels."""

    def __init__(self) -> None:
        super().__init__("m")
        self.topic = "bread"
        self.turn = 0
        self.long = False

    def _words(self) -> list[str]:
        if not self.long:
            return f"sorry , i would rather not talk about {self.topic} {self.turn} .".split()
        return (f"yes i can help with {self.topic} . start small with {self.topic} , try it "
                f"a day a week and rest , it is good {self.turn}").split()


async def community_feedback(settings: Settings, turns: int, user: str = "user",
                             guild: str = "g1") -> None:
    """A community whose members regenerate the deflection and keep the helpful answer."""
    model = TwoDrafts()
    store = store_for(settings)
    await store.open()
    core = core_for(store, BlendedEngine([model], seed=1))
    try:
        outbox = MemoryOutbox()
        for n in range(turns):
            model.topic, model.turn, model.long = TOPICS[n % len(TOPICS)], n, False
            who = replace(event(f"please tell me about {model.topic} {n}", f"{user}{n}",
                                channel=f"{guild}-c{n % 3}"), community_id=guild)
            first = await core.handle(who, outbox)
            assert first.message_id, first
            model.long = True
            kept = await regenerate(core, who, first.message_id, outbox)
            assert kept.message_id  # type: ignore[attr-defined]
    finally:  # as a process stops: its last writes (settling shown replies) before the close
        await core.stop()
        await store.close()


@pytest.fixture
def base(tmp_path: Path) -> Path:
    """A tiny untrained ranker standing in for the shipped one (its checkpoint and export)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from engines.ranker.checkpoint import default_budgets, init_from_backbone, save_checkpoint
    from tests.engines.tiny_ranker import write_encoder

    encoder = write_encoder(tmp_path / "enc")
    ckpt = init_from_backbone(encoder, default_budgets(encoder), seed=3)
    save_checkpoint(ckpt, tmp_path / "base")
    return tmp_path / "base"


def settings_for(tmp_path: Path, base: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", ranker_checkpoint=base, ranker_threads=1,
                    ranker_refresh_min_pairs=16)


async def serve_base(settings: Settings, base: Path) -> Path:
    """The tiny ranker is the one served before any refresh."""
    from engines.ranker.checkpoint import load_checkpoint
    from engines.ranker.export import export

    folder = settings.data_dir / "rankers" / "base"
    export(load_checkpoint(base), folder / "ranker.onnx", say=lambda _: None)
    switch_to(settings, folder)
    return folder / "ranker.onnx"


async def test_refresh_learns_the_communitys_taste_and_is_kept_only_when_better(
        tmp_path: Path, base: Path) -> None:
    from bot.ranker_refresh import refresh
    from engines.ranker.runtime import load_ranker

    settings = settings_for(tmp_path, base)
    settings.data_dir.mkdir(parents=True)
    served = await serve_base(settings, base)
    await community_feedback(settings, 32)
    clock = time_machine.travel(datetime.now(UTC), tick=False)  # both refreshes in one second
    clock.start()

    report = await refresh(settings, epochs=6, lr=3e-4, say=lambda _: None)
    assert report.pairs == 32 and report.held_out > 0
    assert report.before is not None and report.after is not None
    # the refreshed ranker prefers the long, on-topic replies on held-out pairs more often
    assert report.after > report.before and report.switched
    assert served_ranker(settings) == refreshed_ranker(settings) != served
    assert Path(report.path or "") == served_ranker(settings)

    # a refresh that barely trains (one step from the untrained base) is worse: not served
    again = await refresh(settings, epochs=0.01, lr=1e-6, say=lambda _: None)
    assert again.after is not None and again.before == report.after
    assert again.after < again.before and not again.switched
    assert "held-out accuracy" in again.reason
    clock.stop()
    assert served_ranker(settings) == Path(report.path or "")  # still served, still whole
    load_ranker(served_ranker(settings))
    assert len([p for p in (settings.data_dir / "rankers").iterdir() if p.is_dir()]) == 2


async def test_too_few_pairs_says_how_many_and_changes_nothing(tmp_path: Path, base: Path
                                                               ) -> None:
    from bot.ranker_refresh import refresh

    settings = settings_for(tmp_path, base)
    settings.data_dir.mkdir(parents=True)
    await community_feedback(settings, 5)
    run = blendbot(settings.data_dir, "ranker", "refresh", "--community", "1",
                   config=f'ranker_checkpoint = "{base}"\n')
    assert run.returncode == 1, run.stderr
    assert "community 1 has 5 feedback pairs and a refresh needs at least 40" in run.stdout
    assert "nothing changed" in run.stdout
    assert served_ranker(settings).name == "ranker.onnx" and refreshed_ranker(settings) is None
    other = await refresh(settings, 999)
    assert (other.pairs, other.needed, other.switched) == (0, 16, False)
    assert other.line() == ("ranker refresh: community 999 has 0 feedback pairs and a refresh "
                            "needs at least 16; nothing changed")


def test_a_refresh_is_due_weekly_after_the_last_one_and_never_when_off(tmp_path: Path) -> None:
    import json
    from datetime import UTC, datetime, timedelta

    from bot.ranker_refresh import refresh_due

    settings = Settings(data_dir=tmp_path)
    now = datetime(2026, 12, 2, 6, tzinfo=UTC)
    assert refresh_due(settings, now)  # never refreshed
    (tmp_path / "rankers").mkdir()
    (tmp_path / "rankers" / "last_refresh.json").write_text(
        json.dumps({"at": (now - timedelta(days=6)).isoformat()}))
    assert not refresh_due(settings, now)
    assert refresh_due(settings, now + timedelta(days=1))
    assert not refresh_due(Settings(data_dir=tmp_path, ranker_refresh_days=0),
                           now + timedelta(days=30))


async def test_the_shipped_reward_ranker_learns_the_communitys_taste_without_torch_weights(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped ranker is a reward ranker: a refresh refits its head on the community's pairs
    (no PyTorch checkpoint needed) and is served only when it is not worse."""
    pytest.importorskip("sklearn")
    import numpy as np

    from bot.ranker_refresh import refresh
    from engines.ranker import SHIPPED_MODEL, reward_build
    from engines.ranker.runtime import load_ranker

    settings = Settings(data_dir=tmp_path / "data", ranker_threads=1,
                        ranker_refresh_min_pairs=16)
    settings.data_dir.mkdir(parents=True)
    assert served_ranker(settings) == SHIPPED_MODEL
    await community_feedback(settings, 40)
    clock = time_machine.travel(datetime.now(UTC), tick=False)  # both refreshes in one second
    clock.start()

    report = await refresh(settings, say=lambda _: None)
    assert report.pairs == 40 and report.held_out > 0
    assert report.before is not None and report.after is not None
    # held-out pairs of this community: the long, on-topic reply wins more often than before
    assert report.after > report.before and report.switched, report
    assert served_ranker(settings) == Path(report.path or "") != SHIPPED_MODEL

    real_fit = reward_build.fit_head

    def scrambled(*args: object, **kwargs: object) -> np.ndarray:
        weights = real_fit(*args, **kwargs)  # type: ignore[arg-type]
        return -weights  # a head that prefers what the community dislikes

    monkeypatch.setattr(reward_build, "fit_head", scrambled)
    again = await refresh(settings, say=lambda _: None)
    assert again.after is not None and again.before is not None
    assert again.after < again.before and not again.switched
    assert "held-out accuracy" in again.reason
    clock.stop()
    assert served_ranker(settings) == Path(report.path or "")  # still served, still whole
    load_ranker(served_ranker(settings))
