"""Tiny randomly initialised encoders and PairRM checkpoints (llm-blender's layout) for tests."""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("the a i you we it is are was be to of and or not no yes good bad great awful help "
         "helpful thanks sorry hello hi how what why where when can could would do does did "
         "please tell me about bread violin bike plan start small rest try day week").split()
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
PREFIXES = ["<|source|>", "<|candidate1|>", "<|candidate2|>"]


def write_tokenizer(directory: Path, *, with_prefixes: bool) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate([*SPECIAL, *WORDS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, cls_token="[CLS]", sep_token="[SEP]",
                                   pad_token="[PAD]", unk_token="[UNK]", model_max_length=256)
    if with_prefixes:
        fast.add_special_tokens({"additional_special_tokens": PREFIXES})
    fast.save_pretrained(directory)


def _config(arch: str, vocab_size: int):  # type: ignore[no-untyped-def]
    from transformers import BertConfig, DebertaV2Config

    common = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=256)
    if arch == "deberta-v2":  # PairRM's own architecture (relative positions, no absolute)
        return DebertaV2Config(**common, relative_attention=True, position_buckets=32,
                               pos_att_type=["p2c", "c2p"], position_biased_input=False,
                               type_vocab_size=0)
    return BertConfig(**common)


def write_encoder(directory: Path, arch: str = "bert", seed: int = 0) -> Path:
    """A plain encoder directory (no ranker head), like a backbone from the hub."""
    import torch
    from transformers import AutoModel

    directory.mkdir(parents=True, exist_ok=True)
    write_tokenizer(directory, with_prefixes=False)
    torch.manual_seed(seed)
    AutoModel.from_config(_config(arch, len(SPECIAL) + len(WORDS))).save_pretrained(directory)
    return directory


def write_pairrm(directory: Path, arch: str = "deberta-v2", seed: int = 0) -> Path:
    """A ranker directory as llm-blender publishes PairRM: config.json with the prefix ids,
    `pytorch_model.bin` with `pretrained_model.*` and `head_layer.*`, the tokenizer files."""
    import torch
    from transformers import AutoModel

    from engines.ranker.torch_model import PairRM

    directory.mkdir(parents=True, exist_ok=True)
    write_tokenizer(directory, with_prefixes=True)
    base = len(SPECIAL) + len(WORDS)
    ids = dict(zip(("source_prefix_id", "cand1_prefix_id", "cand2_prefix_id"),
                   range(base, base + 3), strict=True))
    config = _config(arch, base + 3)
    torch.manual_seed(seed)
    model = PairRM(AutoModel.from_config(config), config.hidden_size, *ids.values())
    config.save_pretrained(directory)
    data = json.loads((directory / "config.json").read_text())
    data.update(ids, n_tasks=1, drop_out=0.05, architectures=["DebertaV2PairRM"])
    (directory / "config.json").write_text(json.dumps(data, indent=2))
    torch.save(model.state_dict(), directory / "pytorch_model.bin")
    return directory
