"""PairRanker (LLM-Blender's PairRM): compares candidate replies two at a time.

Serving needs only ONNX Runtime, `tokenizers` and numpy (`runtime`, `scorer`, `aggregate`,
`encoding`, `meta`, `pairs`, `texts`, `provider`); training and export need the `train` extra
(`checkpoint`, `torch_model`, `train`, `export`, `torch_scorer`).
"""

from pathlib import Path

from .aggregate import AGGREGATIONS, Ranking
from .meta import RankerLoadError
from .pairs import PreferencePair

SHIPPED_MODEL = Path(__file__).parent / "data" / "ranker.onnx"
SHIPPED_CHECKPOINT = Path(__file__).parent / "data" / "checkpoint"  # its weights, for PyTorch

__all__ = ["AGGREGATIONS", "SHIPPED_CHECKPOINT", "SHIPPED_MODEL", "PreferencePair",
           "RankerLoadError", "Ranking"]
