from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cards"


@pytest.fixture
def seraphina_png() -> Path:
    path = SHARED / "default_Seraphina.png"
    if not path.is_file():
        pytest.skip(f"{path} not present (../shared/data)")
    return path
