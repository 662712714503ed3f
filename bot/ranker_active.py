"""Which ranker the bot serves: `ranker_path` when set, else the one `blendbot ranker refresh`
switched in (`<data_dir>/rankers/ACTIVE` names its folder), else the shipped one.

The shipped package files are never overwritten: a refreshed ranker is written to its own
folder, and switching is one atomic replace of the `ACTIVE` pointer. A running bot picks the
new one up at its next ranked reply (`RankerProvider` follows `served_ranker`).
"""

from __future__ import annotations

import os
from pathlib import Path

from engines.ranker import SHIPPED_MODEL

from .config import Settings

POINTER = "ACTIVE"
MODEL_FILE = "ranker.onnx"


def rankers_dir(settings: Settings) -> Path:
    return settings.data_dir / "rankers"


def refreshed_ranker(settings: Settings) -> Path | None:
    """The ranker `ranker refresh` switched in, when there is one and it is still on disk."""
    pointer = rankers_dir(settings) / POINTER
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    path = rankers_dir(settings) / name / MODEL_FILE
    return path if name and "/" not in name and path.is_file() else None


def served_ranker(settings: Settings) -> Path:
    """The model file ranked replies use now."""
    return settings.ranker_path or refreshed_ranker(settings) or SHIPPED_MODEL


def switch_to(settings: Settings, folder: Path) -> None:
    """Serve the ranker in `folder` (a folder of `rankers_dir`) from now on."""
    root = rankers_dir(settings)
    tmp = root / f".{POINTER}.{os.getpid()}"
    tmp.write_text(folder.name + "\n", encoding="utf-8")
    os.replace(tmp, root / POINTER)
