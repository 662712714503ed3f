"""Fine-tune a ranker on preference pairs with PairRM's loss: −log σ(s_chosen − s_rejected),
each pair seen in both orders."""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.nn import functional

from .checkpoint import Checkpoint
from .encoding import PairEncoder
from .pairs import PreferencePair


@dataclass(frozen=True, slots=True)
class TrainOptions:
    epochs: float = 2.0
    batch_pairs: int = 8  # pairs per step (twice as many sequences)
    lr: float = 5e-5  # encoder
    head_lr: float = 3e-4  # the freshly initialised head learns faster
    warmup: float = 0.1  # fraction of steps with a rising learning rate
    weight_decay: float = 0.01
    seed: int = 0
    threads: int | None = None
    freeze_layers: int = 0  # the embeddings and this many bottom encoder layers stay fixed
    both_orders: bool = True  # each pair in both orders per step, else one order at random


@dataclass(frozen=True, slots=True)
class TrainReport:
    pairs: int
    steps: int
    seconds: float
    first_loss: float
    last_loss: float  # mean over the last tenth of the steps


def train(ckpt: Checkpoint, pairs: Sequence[PreferencePair], options: TrainOptions,
          say: Callable[[str], None] = print) -> TrainReport:
    """Train `ckpt.model` in place; the model is left in eval mode."""
    if not pairs:
        raise ValueError("no preference pairs to train on")
    if options.threads:
        torch.set_num_threads(options.threads)
    torch.manual_seed(options.seed)
    rng = random.Random(options.seed)
    encoder = PairEncoder(ckpt.runtime_tokenizer(), ckpt.meta)
    rows = [_rows(encoder, p) for p in pairs]
    per_epoch = math.ceil(len(rows) / options.batch_pairs)
    total = max(1, round(per_epoch * options.epochs))
    model = ckpt.model
    frozen = _freeze(model, options.freeze_layers)
    head = list(model.head_layer.parameters())
    head_ids = {id(p) for p in head}
    body = [p for p in model.parameters() if id(p) not in head_ids and p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": body, "lr": options.lr},
                                   {"params": head, "lr": options.head_lr}],
                                  weight_decay=options.weight_decay)
    warm = max(1, round(total * options.warmup))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))
    model.train()
    losses: list[float] = []
    started = time.monotonic()
    batches: list[list[int]] = []
    for step in range(total):
        if not batches:
            batches = _batches([len(r[0]) for r in rows], options.batch_pairs, rng)
        chunk = batches.pop()
        if options.both_orders:
            picked = [r for k in chunk for r in rows[k]]
            target = torch.tensor([1.0, -1.0] * len(chunk))
        else:
            flips = [rng.random() < 0.5 for _ in chunk]
            picked = [rows[k][int(f)] for k, f in zip(chunk, flips, strict=True)]
            target = torch.tensor([-1.0 if f else 1.0 for f in flips])
        batch = encoder.batch(picked)
        logits, _ = model(torch.from_numpy(batch.input_ids),
                          torch.from_numpy(batch.attention_mask))
        loss = functional.softplus(-target * logits).mean()  # −log σ(y · logit)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % 20 == 0 or step + 1 == total:
            spent = time.monotonic() - started
            recent = sum(losses[-20:]) / len(losses[-20:])
            say(f"step {step + 1}/{total}  loss {recent:.4f}  {spent:.0f}s elapsed, "
                f"~{spent / (step + 1) * (total - step - 1):.0f}s left")
    model.eval()
    for p in frozen:
        p.requires_grad_(True)
    tail = losses[-max(1, total // 10):]
    return TrainReport(len(pairs), total, time.monotonic() - started, losses[0],
                       sum(tail) / len(tail))


def _freeze(model: torch.nn.Module, layers: int) -> list[torch.nn.Parameter]:
    """Fix the embeddings and the bottom `layers` encoder layers (small data: less to undo
    of what the encoder knows, and cheaper steps); the frozen parameters."""
    if layers <= 0:
        return []
    encoder = model.pretrained_model
    parts = [getattr(encoder, "embeddings", None)]
    stack = getattr(getattr(encoder, "encoder", None), "layer", None)
    if stack is not None:
        parts += list(stack)[:layers]
    frozen = [p for part in parts if part is not None for p in part.parameters()]
    for p in frozen:
        p.requires_grad_(False)
    return frozen


def _batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """One epoch of batches in random order, each of pairs of similar length (less padding)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    batches = []
    pool = size * 16
    for start in range(0, len(order), pool):
        group = sorted(order[start:start + pool], key=lambda k: lengths[k])
        batches += [group[i:i + size] for i in range(0, len(group), size)]
    rng.shuffle(batches)
    return batches


def _rows(encoder: PairEncoder, pair: PreferencePair) -> tuple[list[int], list[int]]:
    """(chosen first, rejected first): the label is +1 for the first row, −1 for the second."""
    src = encoder.source(pair.source)
    chosen, rejected = encoder.candidate(pair.chosen), encoder.candidate(pair.rejected)
    return encoder.pair(src, chosen, rejected), encoder.pair(src, rejected, chosen)
