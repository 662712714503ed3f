"""`blendbot ranker refresh`: adapt the served ranker to a community's own feedback (a reward
ranker's head is refitted, a PairRM is fine-tuned), and serve the result only when it is not
worse.

The pairs are what the bot's feedback implies (`bot.storage.preferences`): a 👍 reply over a 👎
one to the same turn, the kept reply over a regenerated one, a liked `best_of_n` reply over
the candidates ranked below it. A quarter of them (by a hash of each pair) is held out. The
ranker served now and the refreshed one are both measured on that held-out slice, and on the
held-out part of `ranker_dev_pairs` when it is set; the refreshed one is switched in
(`bot.ranker_active`) only when it scores at least as well on the slice and loses no more
than `DEV_TOLERANCE` on the dev pairs. Otherwise its folder is removed and nothing changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engines.ranker import SHIPPED_CHECKPOINT, PreferencePair, RankerLoadError
from engines.ranker.pairs import read_pairs, split

from .config import Settings
from .ranker_active import MODEL_FILE, rankers_dir, served_ranker, switch_to

log = logging.getLogger(__name__)
HOLDOUT = 0.25  # of the community's pairs, to compare the two rankers on
DEV_HOLDOUT = 0.2  # the part of `ranker_dev_pairs` that `make ranker` leaves out
DEV_TOLERANCE = 0.01  # accuracy the dev pairs may lose (noise), no more
REPORT_FILE = "refresh.json"
LAST_FILE = "last_refresh.json"


@dataclass(frozen=True, slots=True)
class RefreshReport:
    pairs: int  # the community's feedback pairs
    needed: int
    switched: bool = False
    reason: str = ""
    held_out: int = 0
    before: float | None = None  # accuracy of the served ranker on the held-out slice
    after: float | None = None  # of the refreshed one
    dev_pairs: int = 0
    dev_before: float | None = None
    dev_after: float | None = None
    path: str | None = None  # the refreshed ranker, when switched in
    seconds: float = 0.0

    def line(self) -> str:
        if self.before is None:
            return f"ranker refresh: {self.reason}; nothing changed"
        dev = (f"; dev pairs {self.dev_before:.3f} -> {self.dev_after:.3f} ({self.dev_pairs})"
               if self.dev_before is not None and self.dev_after is not None else "")
        verdict = f"switched to {self.path}" if self.switched else \
            f"kept the served ranker ({self.reason})"
        return (f"ranker refresh: {self.pairs} pairs, {self.held_out} held out: accuracy "
                f"{self.before:.3f} -> {self.after:.3f}{dev}; {verdict}")


async def refresh(settings: Settings, community_id: int | None = None, *, epochs: float = 3.0,
                  lr: float = 3e-5, say: Callable[[str], None] = print) -> RefreshReport:
    """Refresh from the feedback of one community (or all); see the module docstring."""
    started = time.monotonic()
    pairs = await _feedback(settings, community_id)
    needed = settings.ranker_refresh_min_pairs
    train_part, held = split(pairs, HOLDOUT)
    if len(pairs) < needed or not train_part or not held:
        who = f"community {community_id}" if community_id is not None else "the bot"
        return RefreshReport(len(pairs), needed, reason=(
            f"{who} has {len(pairs)} feedback pairs and a refresh needs at least {needed}"
            if len(pairs) < needed else f"{len(pairs)} pairs leave none to hold out"))
    if not _serves_reward(settings):
        base_checkpoint(settings)  # before any work: there is something to start from
    say(f"{len(pairs)} feedback pairs: {len(train_part)} to train on, {len(held)} held out")
    report = await asyncio.to_thread(_refresh, settings, community_id, pairs, train_part, held,
                                     epochs, lr, say)
    return _with(report, seconds=round(time.monotonic() - started, 1))


def base_checkpoint(settings: Settings) -> Path:
    """The PyTorch weights a refresh starts from: `ranker_checkpoint`, else the shipped ranker's
    (`make ranker` writes them beside the export); `RankerLoadError` when there are none."""
    for path in (settings.ranker_checkpoint, SHIPPED_CHECKPOINT):
        if path is not None and (path / "config.json").is_file():
            return path
    raise RankerLoadError("ranker refresh needs the shipped ranker's PyTorch weights: run "
                          f"`make ranker` (writes {SHIPPED_CHECKPOINT}) or set ranker_checkpoint")


async def _feedback(settings: Settings, community_id: int | None) -> list[PreferencePair]:
    from .database import store_for
    from .storage.preferences import feedback_pairs

    store = store_for(settings)
    await store.open()
    try:
        return await feedback_pairs(store, community_id=community_id)
    finally:
        await store.close()


def _serves_reward(settings: Settings) -> bool:
    """Whether the served ranker is a reward ranker (its head beside it), without loading it."""
    from engines.ranker.reward import read_meta

    try:
        read_meta(served_ranker(settings))
        return True
    except (RankerLoadError, OSError):
        return False


def _refresh(settings: Settings, community_id: int | None, pairs: Sequence[PreferencePair],
             train_part: list[PreferencePair], held: list[PreferencePair], epochs: float,
             lr: float, say: Callable[[str], None]) -> RefreshReport:
    from engines.ranker.reward import RewardRanker
    from engines.ranker.runtime import load_ranker

    current_path = served_ranker(settings)
    current = load_ranker(current_path, threads=settings.ranker_threads)
    dev = _dev_pairs(settings)
    before, dev_before = _accuracy(current, held), _accuracy(current, dev)
    scope = f"community-{community_id}" if community_id is not None else "all"
    root = rankers_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")  # a folder of its own, even when two
    folder = Path(tempfile.mkdtemp(prefix=f"{stamp}-{scope}-", dir=root))  # run in a second
    if isinstance(current, RewardRanker):
        _refit(current, train_part, folder, scope, say)
    else:
        _fine_tune(settings, train_part, folder, scope, epochs, lr, say)
    fresh = load_ranker(folder / MODEL_FILE, threads=settings.ranker_threads)
    after, dev_after = _accuracy(fresh, held), _accuracy(fresh, dev)
    assert before is not None and after is not None
    worse = [why for why, bad in (
        (f"held-out accuracy {after:.3f} < {before:.3f}", after < before),
        (f"dev accuracy {dev_after} < {dev_before} - {DEV_TOLERANCE}",
         dev_before is not None and dev_after is not None
         and dev_after < dev_before - DEV_TOLERANCE)) if bad]
    report = RefreshReport(len(pairs), settings.ranker_refresh_min_pairs, switched=not worse,
                           reason="; ".join(worse), held_out=len(held), before=before,
                           after=after, dev_pairs=len(dev), dev_before=dev_before,
                           dev_after=dev_after, path=str(folder / MODEL_FILE) if not worse
                           else None)
    if worse:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        (folder / REPORT_FILE).write_text(json.dumps(asdict(report), indent=2) + "\n")
        switch_to(settings, folder)
        if settings.ranker_path is not None:
            say(f"note: ranker_path = {settings.ranker_path} is set and is served instead; "
                "unset it to serve refreshed rankers")
    _remember(settings, report)
    return report


def _refit(current: Any, train_part: list[PreferencePair], folder: Path, scope: str,
           say: Callable[[str], None]) -> None:
    """A reward ranker: the same encoder, its head refitted on the community's pairs starting
    from the served head (its score is a feature), written to `folder`."""
    import numpy as np

    from engines.ranker.reward_build import fit_head
    from engines.ranker.runtime import META_FILE, TOKENIZER_FILE

    say(f"refitting the head of {current.path} on {len(train_part)} pairs")
    chosen, rejected = current.pair_features(train_part)
    weights = fit_head(chosen, rejected, prior=np.asarray(current.weights))
    meta = current.meta.with_weights(weights, refreshed_from=str(current.path),
                                     refresh_scope=scope, refresh_pairs=len(train_part))
    shutil.copyfile(current.path, folder / MODEL_FILE)  # the encoder is unchanged
    shutil.copyfile(current.path.parent / TOKENIZER_FILE, folder / TOKENIZER_FILE)
    (folder / META_FILE).write_text(meta.to_json() + "\n", encoding="utf-8")


def _fine_tune(settings: Settings, train_part: list[PreferencePair], folder: Path, scope: str,
               epochs: float, lr: float, say: Callable[[str], None]) -> None:
    """A PairRM: fine-tune its PyTorch weights on the community's pairs, export to `folder`."""
    from transformers.utils import logging as hf_logging

    from engines.ranker.augment import contrastive_pairs
    from engines.ranker.checkpoint import load_checkpoint, with_info
    from engines.ranker.export import export
    from engines.ranker.train import TrainOptions, train

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    base = base_checkpoint(settings)
    ckpt = load_checkpoint(base)
    say(f"fine-tuning {base} ({epochs:g} epochs)")
    result = train(ckpt, train_part + contrastive_pairs(train_part),
                   TrainOptions(epochs=epochs, lr=lr, batch_pairs=8,
                                threads=settings.ranker_threads), say=say)
    ckpt = with_info(ckpt, refreshed_from=str(base), refresh_scope=scope,
                     refresh_pairs=len(train_part), steps=result.steps, epochs=epochs, lr=lr)
    export(ckpt, folder / MODEL_FILE, int8=True, say=say)


def _dev_pairs(settings: Settings) -> list[PreferencePair]:
    if settings.ranker_dev_pairs is None:
        return []
    return split(read_pairs(settings.ranker_dev_pairs).pairs, DEV_HOLDOUT)[1]


def _accuracy(ranker: Any, pairs: Sequence[PreferencePair]) -> float | None:
    if not pairs:
        return None
    return round(float((ranker.margins(pairs) > 0).mean()), 4)


def _with(report: RefreshReport, **changes: Any) -> RefreshReport:
    from dataclasses import replace

    return replace(report, **changes)


def _remember(settings: Settings, report: RefreshReport) -> None:
    root = rankers_dir(settings)
    root.mkdir(parents=True, exist_ok=True)
    (root / LAST_FILE).write_text(json.dumps(
        {"at": datetime.now(UTC).isoformat(), **asdict(report)}, indent=2) + "\n")


def last_refresh(settings: Settings) -> datetime | None:
    """When the last refresh ran (switched or not), from any process."""
    try:
        data = json.loads((rankers_dir(settings) / LAST_FILE).read_text())
        return datetime.fromisoformat(data["at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def refresh_due(settings: Settings, now: datetime) -> bool:
    days = settings.ranker_refresh_days
    if not days:
        return False
    last = last_refresh(settings)
    return last is None or (now - last).total_seconds() >= days * 86400


async def refresh_loop(settings: Settings, poll_s: float = 3600.0) -> None:
    """Weekly (`ranker_refresh_days`) refreshes from all feedback, in a running bot with the
    `train` extra; one process at a time (a lock file in the data directory)."""
    from filelock import FileLock, Timeout

    root = rankers_dir(settings)
    if last_refresh(settings) is None:  # the first one a period after the first start
        root.mkdir(parents=True, exist_ok=True)
        (root / LAST_FILE).write_text(json.dumps({"at": datetime.now(UTC).isoformat(),
                                                  "reason": "first start"}) + "\n")
    while True:
        if refresh_due(settings, datetime.now(UTC)):
            root.mkdir(parents=True, exist_ok=True)
            try:
                with FileLock(str(root / ".refresh.lock"), timeout=0):
                    if refresh_due(settings, datetime.now(UTC)):
                        report = await refresh(settings, say=lambda line: log.debug(line))
                        if report.before is None:
                            _remember(settings, report)
                        log.warning("%s", report.line())
            except Timeout:
                pass  # another process is refreshing
            except Exception as exc:  # a failed refresh must not stop the bot
                log.error("ranker refresh failed: %s", exc, exc_info=exc)
        await asyncio.sleep(poll_s)


def extra_installed() -> bool:
    from engines.ranker.requires import missing_train_packages

    return not missing_train_packages()


__all__ = ["RefreshReport", "extra_installed", "refresh", "refresh_due", "refresh_loop"]
