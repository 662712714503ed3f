"""The PairRM network in PyTorch (training and export only; serving uses ONNX Runtime).

A cross-encoder reads `[CLS]<|source|> … [SEP][CLS]<|candidate1|> … [SEP][CLS]<|candidate2|> …
[SEP]`; the head `Linear(2H→H) → Tanh → Linear(H→1)` scores [h_source; h_candidate] for each
candidate, h being the hidden state at that segment's prefix token; logit = s1 − s2.
Module names follow llm-blender's `DebertaV2PairRM` so its checkpoints load as they are.
"""

from __future__ import annotations

import torch
from torch import nn

from .meta import RankerMeta


class PairRM(nn.Module):
    def __init__(self, encoder: nn.Module, hidden_size: int, source_prefix_id: int,
                 candidate1_prefix_id: int, candidate2_prefix_id: int,
                 dropout: float = 0.05) -> None:
        super().__init__()
        self.pretrained_model = encoder
        self.dropout = dropout  # of the head, saved with the checkpoint
        self.head_layer = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(2 * hidden_size, hidden_size),
            nn.Tanh(),
            nn.Dropout(dropout),
            nn.Linear(hidden_size, 1),
        )
        self.prefix_ids = (source_prefix_id, candidate1_prefix_id, candidate2_prefix_id)

    @classmethod
    def for_meta(cls, encoder: nn.Module, hidden_size: int, meta: RankerMeta,
                 dropout: float = 0.05) -> PairRM:
        return cls(encoder, hidden_size, meta.source_prefix_id, meta.candidate1_prefix_id,
                   meta.candidate2_prefix_id, dropout)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, scores): logits (batch,) = s1 − s2; scores (batch, 2) = [s1, s2]."""
        hidden = self.pretrained_model(input_ids=input_ids,
                                       attention_mask=attention_mask).last_hidden_state
        source, first, second = (_at_token(hidden, input_ids, t) for t in self.prefix_ids)
        s1 = self.head_layer(torch.cat([source, first], dim=-1)).squeeze(-1)
        s2 = self.head_layer(torch.cat([source, second], dim=-1)).squeeze(-1)
        return s1 - s2, torch.stack([s1, s2], dim=-1)


def _at_token(hidden: torch.Tensor, input_ids: torch.Tensor, token_id: int) -> torch.Tensor:
    """The hidden state at the first position holding `token_id`, per row.

    Found with argmax rather than Python control flow, so the exported graph keeps dynamic
    batch and sequence axes.
    """
    position = (input_ids == token_id).to(hidden.dtype).argmax(dim=1)
    index = position.view(-1, 1, 1).expand(-1, 1, hidden.size(-1))
    return hidden.gather(1, index).squeeze(1)
