"""Bootstrap over users: confidence intervals that respect each user's whole history.

A user's days, sessions and messages are correlated (regulars are regulars every day), so
the unit resampled is the user, never a single day or message.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

DEFAULT_DRAWS = 400
DEFAULT_LEVEL = 0.95
BLOCK_CELLS = 1_000_000  # weights held at a time (8 MB): memory does not grow with users


def user_weights(n: int, draws: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Resampling counts in blocks of rows: row b says how often each of the `n` users
    appears in draw b (n draws with replacement); `draws` rows in all."""
    rows = max(1, BLOCK_CELLS // max(n, 1))
    for start in range(0, draws, rows):
        block = np.empty((min(rows, draws - start), n))
        for row in block:
            row[:] = np.bincount(rng.integers(0, n, size=n), minlength=n) if n else 0
        yield block


def percentile_interval(
    values: np.ndarray, level: float = DEFAULT_LEVEL
) -> tuple[float, float] | None:
    """The central `level` interval of the finite bootstrap values; None if most failed."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or finite.size < values.size / 2:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(finite, [tail, 100.0 - tail])
    return float(lo), float(hi)


def ratio_interval(
    numerator: np.ndarray,
    denominator: np.ndarray,
    *,
    draws: int = DEFAULT_DRAWS,
    level: float = DEFAULT_LEVEL,
    seed: int = 0,
) -> tuple[float, float] | None:
    """Interval for sum(numerator) / sum(denominator), resampling the users (entries)."""
    if numerator.size < 2:
        return None
    rng = np.random.default_rng(seed)
    both = np.stack([numerator, denominator], axis=1)
    num, den = np.concatenate([w @ both for w in user_weights(numerator.size, draws, rng)]).T
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(den > 0, num / den, np.nan)
    return percentile_interval(values, level)
