"""Ranker checkpoints on disk (PyTorch): a Hugging Face encoder plus the PairRM head.

A checkpoint directory holds `config.json` (the encoder's config with `source_prefix_id`,
`cand1_prefix_id`, `cand2_prefix_id`), the weights (`model.safetensors` or `pytorch_model.bin`,
encoder under `pretrained_model.`, head under `head_layer.`), the tokenizer files, and
optionally `ranker.json` (token budgets). llm-blender's `PairRM` directory has this layout;
`init_from_backbone` starts one from any plain encoder directory.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerBase

from .meta import (
    CANDIDATE1_PREFIX,
    CANDIDATE2_PREFIX,
    PREFIX_TOKENS,
    SOURCE_PREFIX,
    Budgets,
    RankerLoadError,
    RankerMeta,
    plain_tokenizer,
    vocab_fingerprint,
)
from .torch_model import PairRM

CONFIG_KEYS = {"source_prefix_id": SOURCE_PREFIX, "cand1_prefix_id": CANDIDATE1_PREFIX,
               "cand2_prefix_id": CANDIDATE2_PREFIX}
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


@dataclass
class Checkpoint:
    """A PairRM model with its tokenizer, ids and budgets."""

    model: PairRM
    tokenizer: PreTrainedTokenizerBase
    config: Any  # the encoder's transformers config
    meta: RankerMeta
    info: dict[str, Any] = field(default_factory=dict)

    def runtime_tokenizer(self) -> Tokenizer:
        """A standalone `tokenizers` copy, as ONNX serving uses it."""
        return plain_tokenizer(Tokenizer.from_str(self.tokenizer.backend_tokenizer.to_str()))


def load_checkpoint(directory: Path, budgets: Budgets | None = None) -> Checkpoint:
    """A checkpoint directory (ours or llm-blender's PairRM), in eval mode."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise RankerLoadError(f"{directory} is not a model directory (no config.json)")
    config = AutoConfig.from_pretrained(directory)
    tokenizer = fast_tokenizer(directory)
    state = _state_dict(directory)
    if not any(k.startswith("head_layer.") for k in state):
        raise RankerLoadError(f"{directory} has no PairRM head weights; start a ranker from this "
                              "encoder with `blendbot ranker train --from DIR`")
    encoder = AutoModel.from_config(config)
    stored = _budgets_file(directory)
    notes = json.loads((directory / "ranker.json").read_text()) \
        if (directory / "ranker.json").is_file() else {}
    meta = _meta(tokenizer, config, budgets or stored or fitted_budgets(config),
                 notes.get("backbone") or _backbone(config, directory))
    model = PairRM.for_meta(encoder, config.hidden_size, meta,
                            float(getattr(config, "drop_out", 0.05)))
    missing, _ = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("position_ids")]
    if missing:
        raise RankerLoadError(f"{directory}: weights missing for {', '.join(missing[:3])}"
                              f"{' …' if len(missing) > 3 else ''}")
    model.eval()
    info = notes.get("info", {})
    return Checkpoint(model, tokenizer, config, replace(meta, info=info), info)


def init_from_backbone(directory: Path, budgets: Budgets, seed: int = 0,
                       name: str | None = None) -> Checkpoint:
    """A new ranker: the pretrained encoder in `directory` (called `name` in the metadata),
    the prefix tokens, a fresh head."""
    directory = Path(directory)
    tokenizer = fast_tokenizer(directory)
    tokenizer.add_special_tokens({"additional_special_tokens": list(PREFIX_TOKENS)})
    encoder = AutoModel.from_pretrained(directory)
    encoder.resize_token_embeddings(len(tokenizer))
    config = encoder.config
    meta = _meta(tokenizer, config, budgets, name or _backbone(config, directory))
    torch.manual_seed(seed)
    model = PairRM.for_meta(encoder, config.hidden_size, meta)
    model.eval()
    return Checkpoint(model, tokenizer, config, meta)


def save_checkpoint(ckpt: Checkpoint, directory: Path, *, half: bool = False) -> None:
    """Write config, weights (safetensors; `half`: as float16, half the size, loaded back as
    float32), tokenizer and `ranker.json` into `directory`."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    config = ckpt.config
    config.source_prefix_id = ckpt.meta.source_prefix_id
    config.cand1_prefix_id = ckpt.meta.candidate1_prefix_id
    config.cand2_prefix_id = ckpt.meta.candidate2_prefix_id
    config.n_tasks = 1
    config.drop_out = ckpt.model.dropout
    config.save_pretrained(directory)
    state = {k: v.detach().contiguous() for k, v in ckpt.model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    save_file(state, str(directory / "model.safetensors"))
    ckpt.tokenizer.save_pretrained(directory)
    (directory / "ranker.json").write_text(json.dumps(
        {"budgets": {"source": ckpt.meta.budgets.source,
                     "candidate": ckpt.meta.budgets.candidate},
         "backbone": ckpt.meta.backbone, "info": ckpt.info}, indent=2))


def default_budgets(directory: Path) -> Budgets:
    """The directory's own budgets (`ranker.json`), else what fits its encoder."""
    return _budgets_file(directory) or fitted_budgets(AutoConfig.from_pretrained(directory))


def fitted_budgets(config: Any) -> Budgets:
    """PairRM's budgets, or half and a quarter each of the positions an encoder can read."""
    try:
        check_budgets(config, Budgets())
        return Budgets()
    except RankerLoadError:
        limit = int(config.max_position_embeddings)
        return Budgets(limit // 2, limit // 4)


def check_budgets(config: Any, budgets: Budgets) -> None:
    """Refuse budgets longer than an encoder with absolute positions can read."""
    relative = config.model_type in ("deberta", "deberta-v2") and not getattr(
        config, "position_biased_input", True)
    limit = getattr(config, "max_position_embeddings", None)
    if not relative and limit is not None and budgets.total > limit:
        raise RankerLoadError(
            f"token budgets source {budgets.source} + 2 × candidate {budgets.candidate} = "
            f"{budgets.total} exceed this encoder's {limit} positions")


def fast_tokenizer(directory: Path) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise RankerLoadError(f"cannot load the tokenizer in {directory}: {exc}") from None
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise RankerLoadError(f"the tokenizer in {directory} has no fast (tokenizers) form")
    return tokenizer


def _state_dict(directory: Path) -> dict[str, torch.Tensor]:
    for name in WEIGHT_FILES:
        path = directory / name
        if path.is_file():
            if name.endswith(".safetensors"):
                from safetensors.torch import load_file

                return load_file(str(path))
            return torch.load(path, map_location="cpu", weights_only=True)
    raise RankerLoadError(f"{directory} holds no weights ({' or '.join(WEIGHT_FILES)})")


def _budgets_file(directory: Path) -> Budgets | None:
    path = directory / "ranker.json"
    if not path.is_file():
        return None
    return Budgets(**json.loads(path.read_text()).get("budgets", {}))


def _backbone(config: Any, directory: Path) -> str:
    return str(getattr(config, "_name_or_path", "") or config.model_type or directory.name)


def _meta(tokenizer: PreTrainedTokenizerBase, config: Any, budgets: Budgets,
          backbone: str) -> RankerMeta:
    check_budgets(config, budgets)
    ids: dict[str, int] = {}
    for key, token in CONFIG_KEYS.items():
        found = tokenizer.convert_tokens_to_ids(token)
        if not isinstance(found, int) or found == tokenizer.unk_token_id:  # None: absent
            raise RankerLoadError(f"the tokenizer lacks the ranker's {token} token")
        expected = getattr(config, key, None)
        if expected is not None and int(expected) != found:
            raise RankerLoadError(f"tokenizer and config disagree on {token}: {found} vs "
                                  f"{expected}")
        ids[key] = found
    cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None \
        else tokenizer.bos_token_id
    sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None \
        else tokenizer.eos_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else sep_id
    if cls_id is None or sep_id is None:
        raise RankerLoadError("the tokenizer has neither CLS/SEP nor BOS/EOS tokens")
    runtime = plain_tokenizer(Tokenizer.from_str(tokenizer.backend_tokenizer.to_str()))
    return RankerMeta(
        cls_id=int(cls_id), sep_id=int(sep_id), pad_id=int(pad_id),
        source_prefix_id=ids["source_prefix_id"], candidate1_prefix_id=ids["cand1_prefix_id"],
        candidate2_prefix_id=ids["cand2_prefix_id"], vocab_fingerprint=vocab_fingerprint(runtime),
        budgets=budgets, backbone=backbone)


def with_info(ckpt: Checkpoint, **info: Any) -> Checkpoint:
    """The checkpoint with notes added to its metadata (they travel into the ONNX file)."""
    merged = {**ckpt.info, **info}
    return replace(ckpt, info=merged, meta=replace(ckpt.meta, info=merged))
