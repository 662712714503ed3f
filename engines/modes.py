"""The blend modes: the one list of how a reply can be made, with a line about each.

Commands, config and help text read their choices from here. A mode is listed only when
the engine can serve it; whether a given engine does (the ranked modes need a ranker) is
`BlendedEngine.modes`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ModeInfo:
    name: str
    description: str
    ranked: bool = False  # needs the PairRanker: served only by an engine that has one


MODES: tuple[ModeInfo, ...] = (
    ModeInfo("single", "one model answers every reply"),
    ModeInfo("uniform", "each reply drawn from all models with equal chance"),
    ModeInfo("weighted", "each reply drawn from the models by the channel's weights"),
    ModeInfo("learned", "each reply drawn by shares learned from how users respond"),
    ModeInfo("best_of_n", "several replies are written; the ranker's best is sent", ranked=True),
    ModeInfo("fuse", "the ranker's top replies merged into one by a model", ranked=True),
)
MODE_NAMES: tuple[str, ...] = tuple(m.name for m in MODES)
