from __future__ import annotations

from pathlib import Path

import pytest

from engines.llamacpp import LlamaCppModel


@pytest.fixture
def data_dir(tmp_path: Path, model_dir: Path, gemma: LlamaCppModel) -> Path:
    """A fresh data dir whose models/ is the session's (Gemma assembled once)."""
    gemma.source.resolve()
    data = tmp_path / "data"
    data.mkdir()
    (data / "models").symlink_to(model_dir / "models", target_is_directory=True)
    return data
