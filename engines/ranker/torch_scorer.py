"""`TorchScorer`: the same comparisons run by PyTorch eager (for benchmarks and parity)."""

from __future__ import annotations

import numpy as np
import torch

from .checkpoint import Checkpoint
from .encoding import Batch, PairEncoder
from .scorer import PairScorer


class TorchScorer(PairScorer):
    def __init__(self, ckpt: Checkpoint) -> None:
        self.model = ckpt.model.eval()
        self.encoder = PairEncoder(ckpt.runtime_tokenizer(), ckpt.meta)

    def run(self, batch: Batch) -> np.ndarray:
        with torch.inference_mode():
            logits, _ = self.model(torch.from_numpy(batch.input_ids),
                                   torch.from_numpy(batch.attention_mask))
        return logits.double().numpy()
