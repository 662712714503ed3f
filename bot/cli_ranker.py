"""`blendbot ranker export|train|refresh|eval`: build, export, refresh from feedback
and measure rankers (reward rankers and PairRM)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from engines.ranker import PreferencePair, RankerLoadError
from engines.ranker.augment import contrastive_pairs
from engines.ranker.meta import Budgets
from engines.ranker.pairs import PairsError, read_pairs, split
from engines.ranker.recipe import DEFAULT_C
from engines.ranker.requires import (
    BACKBONE_NAME,
    TrainExtraMissing,
    default_backbone,
    require_train,
)

from .config import Settings
from .ranker_active import served_ranker


class RankerUsageError(Exception):
    """Bad ranker input (a missing file, a bad model or pairs file): one line, exit code 2."""


def add_parsers(sub: Any) -> None:
    ranker = sub.add_parser("ranker", help="the pairwise ranker: train, export to ONNX, evaluate")
    rsub = ranker.add_subparsers(dest="ranker_command", required=True)

    exp = rsub.add_parser("export", help="export a PyTorch ranker directory to ONNX")
    exp.add_argument("--from", dest="source", type=Path, required=True, metavar="DIR",
                     help="a ranker directory (from `ranker train`, or llm-blender's PairRM)")
    exp.add_argument("--out", type=Path, required=True, metavar="FILE.onnx")
    exp.add_argument("--int8", action="store_true", help="dynamic int8 quantization")
    _budget_args(exp)

    tr = rsub.add_parser("train", help="train a ranker on preference pairs")
    tr.add_argument("--pairs", type=Path, action="append", default=[], metavar="FILE.jsonl",
                    help="hh-rlhf-style pairs (repeatable)")
    tr.add_argument("--out", type=Path, required=True, metavar="DIR",
                    help="reward: the served files (DIR/ranker.onnx, tokenizer.json, "
                         "ranker.json); pairrm: a PyTorch checkpoint to export")
    tr.add_argument("--kind", choices=("reward", "pairrm"), default="reward",
                    help="reward (default): a sentence encoder with a linear head fitted to "
                         "the pairs; pairrm: fine-tune a PairRM cross-encoder")
    tr.add_argument("--c", type=float, default=DEFAULT_C,
                    help=f"reward: inverse L2 strength of the head's fit (default {DEFAULT_C})")
    tr.add_argument("--fp32", action="store_true",
                    help="reward: keep the encoder in fp32 (default: dynamic int8)")
    tr.add_argument("--from", dest="source", type=Path, metavar="DIR",
                    help="an encoder or ranker directory (default: all-MiniLM-L6-v2)")
    tr.add_argument("--no-feedback", action="store_true",
                    help="leave out the bot's own 👍/👎 and regenerate feedback")
    tr.add_argument("--no-augment", action="store_true",
                    help="train on the given pairs only, without the contrastive pairs made "
                         "from them (on-topic beats off-topic, coherent beats shuffled)")
    tr.add_argument("--holdout", type=float, default=0.0, metavar="FRACTION",
                    help="leave this part of each pairs file out (see `ranker eval --holdout`)")
    tr.add_argument("--epochs", type=float, default=2.0)
    tr.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    tr.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, help="PyTorch threads (default: all cores)")
    tr.add_argument("--freeze-layers", type=int, default=0, metavar="N",
                    help="keep the embeddings and the bottom N encoder layers fixed")
    tr.add_argument("--half", action="store_true",
                    help="save the weights as float16 (half the size; loaded back as float32)")
    _budget_args(tr)

    rf = rsub.add_parser("refresh", help="fine-tune the shipped ranker on the bot's own feedback "
                         "and serve it when it is not worse")
    rf.add_argument("--community", type=int, metavar="ID",
                    help="only this community's feedback (default: all of it)")
    rf.add_argument("--dev-pairs", type=Path, metavar="FILE.jsonl",
                    help="hh-rlhf-style pairs whose held-out part it must not get worse on "
                         "(default: ranker_dev_pairs)")
    rf.add_argument("--min-pairs", type=int, metavar="N",
                    help="the least feedback pairs to train on (default: "
                         "ranker_refresh_min_pairs)")
    rf.add_argument("--epochs", type=float, default=3.0)
    rf.add_argument("--lr", type=float, default=3e-5, help="encoder learning rate")

    ev = rsub.add_parser("eval", help="accuracy of a ranker on preference pairs")
    ev.add_argument("--pairs", type=Path, required=True, metavar="FILE.jsonl")
    ev.add_argument("--model", type=Path, metavar="FILE.onnx",
                    help="default: the configured ranker (ranker_path), else the shipped one")
    ev.add_argument("--holdout", type=float, metavar="FRACTION",
                    help="only the part `ranker train --holdout FRACTION` left out")
    ev.add_argument("--threads", type=int, help="ONNX Runtime threads")
    ev.add_argument("--json", action="store_true", help="print one JSON object")


def _budget_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source-budget", type=int, metavar="TOKENS",
                        help="source tokens (PairRM: 1224; default fits the encoder)")
    parser.add_argument("--candidate-budget", type=int, metavar="TOKENS",
                        help="tokens per candidate (PairRM: 412)")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    command = args.ranker_command
    try:
        if command == "eval":
            return await _eval(args, settings)
        require_train(f"ranker {command}")
        if command == "refresh":
            return await _refresh(args, settings)
        if command == "export":
            return await asyncio.to_thread(_export, args)
        return await _train(args, settings)
    except TrainExtraMissing as exc:
        print(f"blendbot: {exc}", file=sys.stderr)
        return 1
    except (RankerLoadError, PairsError) as exc:
        raise RankerUsageError(str(exc)) from None


def _budgets(args: argparse.Namespace, default: Budgets | None) -> Budgets | None:
    if args.source_budget is None and args.candidate_budget is None:
        return default
    base = default or Budgets()
    try:
        return Budgets(args.source_budget or base.source,
                       args.candidate_budget or base.candidate)
    except ValueError as exc:
        raise RankerUsageError(str(exc)) from None


def _export(args: argparse.Namespace) -> int:
    _quiet_transformers()
    from engines.ranker.checkpoint import load_checkpoint
    from engines.ranker.export import ExportError, export

    if args.out.suffix != ".onnx":
        raise RankerUsageError("--out must end in .onnx")
    if not args.source.is_dir():
        raise RankerUsageError(f"{args.source} is not a directory")
    ckpt = load_checkpoint(args.source, _budgets(args, None))
    try:
        report = export(ckpt, args.out, int8=args.int8, say=print)
    except ExportError as exc:
        print(f"blendbot: error: {exc}", file=sys.stderr)
        return 1
    kind = "int8" if report.int8 else "fp32"
    print(f"max |Δlogit| = {report.max_abs_diff:.2e} ({kind} vs PyTorch; sign agreement "
          f"{report.sign_agreement:.0%})")
    print(f"wrote {report.path} ({report.size_bytes / 2**20:.1f} MB, {kind}); tokenizer.json "
          "and ranker.json beside it")
    return 0


async def _train(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 <= args.holdout < 1:
        raise RankerUsageError("--holdout must be at least 0 and below 1")
    if args.epochs <= 0 or args.batch_size < 1 or args.freeze_layers < 0:
        raise RankerUsageError("--epochs must be above 0, --batch-size at least 1 and "
                               "--freeze-layers at least 0")
    pairs: list[PreferencePair] = []
    for path in args.pairs:
        found = read_pairs(path)
        kept, held = split(found.pairs, args.holdout)
        print(f"{path}: {len(kept)} pairs for training, {len(held)} held out"
              f"{f', {found.skipped} skipped' if found.skipped else ''}")
        pairs += kept
    if not args.no_feedback:
        own = await _feedback_pairs(settings)
        print(f"feedback in the database: {len(own)} pairs")
        pairs += own
    if not pairs:
        raise RankerUsageError("no preference pairs: give --pairs FILE.jsonl, or collect 👍/👎 "
                               "and regenerate feedback first")
    extra: list[PreferencePair] = []
    if not args.no_augment:
        extra = contrastive_pairs(pairs, seed=args.seed)
        print(f"contrastive pairs made from them: {len(extra)}")
        pairs += extra
    try:
        source = args.source or default_backbone()
    except TrainExtraMissing as exc:
        raise TrainExtraMissing(f"{exc}; or give --from DIR") from None
    if not source.is_dir():
        raise RankerUsageError(f"{source} is not a directory")
    if args.kind == "reward":
        human = pairs[:len(pairs) - len(extra)]
        return await asyncio.to_thread(_fit_reward, args, source, human, extra)
    return await asyncio.to_thread(_fit, args, source, pairs)


def _fit_reward(args: argparse.Namespace, source: Path, pairs: list[PreferencePair],
                augmented: list[PreferencePair]) -> int:
    _quiet_transformers()
    from engines.ranker.reward_build import build, load_encoder

    if args.c <= 0:
        raise RankerUsageError("--c must be above 0")
    encoder = load_encoder(source, BACKBONE_NAME if args.source is None else None)
    started = time.monotonic()
    out = args.out / "ranker.onnx"
    ranker = build(encoder, pairs, out, int8=not args.fp32, c=args.c, augmented=augmented,
                   say=lambda line: print(line, flush=True), holdout=args.holdout)
    train_acc = float((ranker.margins(pairs) > 0).mean())
    print(f"fitted the head on {len(pairs)} pairs (+ {len(augmented)} contrastive) in "
          f"{time.monotonic() - started:.0f}s (training accuracy {train_acc:.3f}); wrote {out}, "
          "tokenizer.json and ranker.json")
    return 0


def _fit(args: argparse.Namespace, source: Path, pairs: list[PreferencePair]) -> int:
    _quiet_transformers()
    from engines.ranker.checkpoint import (
        default_budgets,
        init_from_backbone,
        load_checkpoint,
        save_checkpoint,
        with_info,
    )
    from engines.ranker.train import TrainOptions, train

    budgets = _budgets(args, default_budgets(source))
    assert budgets is not None
    try:
        ckpt = load_checkpoint(source, budgets)
        print(f"continuing from the ranker in {source}")
    except RankerLoadError as exc:
        if "no PairRM head" not in str(exc):
            raise
        name = BACKBONE_NAME if args.source is None else None
        ckpt = init_from_backbone(source, budgets, seed=args.seed, name=name)
        print(f"new ranker on the encoder in {source}")
    print(f"budgets: source {budgets.source}, candidate {budgets.candidate} tokens; "
          f"{len(pairs)} pairs, {args.epochs:g} epochs")
    options = TrainOptions(epochs=args.epochs, batch_pairs=args.batch_size, lr=args.lr,
                           seed=args.seed, threads=args.threads,
                           freeze_layers=args.freeze_layers)
    report = train(ckpt, pairs, options, say=lambda line: print(line, flush=True))
    ckpt = with_info(ckpt, trained_pairs=report.pairs, augmented=not args.no_augment,
                     steps=report.steps,
                     epochs=args.epochs, lr=args.lr, batch_pairs=args.batch_size,
                     holdout=args.holdout, seed=args.seed, final_loss=round(report.last_loss, 4))
    save_checkpoint(ckpt, args.out, half=args.half)
    print(f"trained {report.steps} steps in {report.seconds:.0f}s (loss {report.first_loss:.3f} "
          f"-> {report.last_loss:.3f}); wrote {args.out}")
    print(f"next: blendbot ranker export --from {args.out} --out FILE.onnx --int8")
    return 0


async def _refresh(args: argparse.Namespace, settings: Settings) -> int:
    from .ranker_refresh import refresh

    if args.epochs <= 0 or args.lr <= 0:
        raise RankerUsageError("--epochs and --lr must be above 0")
    if args.min_pairs is not None and args.min_pairs < 8:
        raise RankerUsageError("--min-pairs must be at least 8")
    if args.dev_pairs is not None and not args.dev_pairs.is_file():
        raise RankerUsageError(f"{args.dev_pairs} does not exist")
    changes: dict[str, Any] = {}
    if args.dev_pairs is not None:
        changes["ranker_dev_pairs"] = args.dev_pairs
    if args.min_pairs is not None:
        changes["ranker_refresh_min_pairs"] = args.min_pairs
    if changes:
        settings = settings.model_copy(update=changes)
    report = await refresh(settings, args.community, epochs=args.epochs, lr=args.lr,
                           say=lambda line: print(line, flush=True))
    print(report.line())
    return 0 if report.before is not None else 1


async def _feedback_pairs(settings: Settings) -> list[PreferencePair]:
    from .database import store_for
    from .storage.preferences import feedback_pairs

    store = store_for(settings)
    await store.open()
    try:
        return await feedback_pairs(store)
    finally:
        await store.close()


async def _eval(args: argparse.Namespace, settings: Settings) -> int:
    from engines.ranker.runtime import load_ranker

    if args.holdout is not None and not 0 < args.holdout < 1:
        raise RankerUsageError("--holdout must be above 0 and below 1")
    path = args.model or served_ranker(settings)
    found = read_pairs(args.pairs)
    pairs = split(found.pairs, args.holdout)[1] if args.holdout else found.pairs
    if not pairs:
        raise RankerUsageError(f"no pairs of {args.pairs} fall in the held-out part")
    ranker = await asyncio.to_thread(load_ranker, path,
                                     threads=args.threads or settings.ranker_threads)
    started = time.perf_counter()
    margins = await asyncio.to_thread(ranker.margins, pairs)
    seconds = time.perf_counter() - started
    correct = int((margins > 0).sum())
    result = {
        "model": str(path),
        "pairs": len(pairs),
        "correct": correct,
        "accuracy": round(correct / len(pairs), 4),
        "mean_margin": round(float(margins.mean()), 4),
        "pairs_per_s": round(len(pairs) / seconds, 2),
        "seconds": round(seconds, 2),
        "holdout": args.holdout,
        "skipped": found.skipped,
        "providers": ranker.providers,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"accuracy {result['accuracy']:.3f} ({correct}/{len(pairs)} pairs)  mean margin "
              f"{result['mean_margin']:+.3f}  {result['pairs_per_s']:.1f} pairs/s  ({path})")
    return 0


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
