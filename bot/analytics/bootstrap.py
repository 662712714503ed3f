"""Bootstrap over users: confidence intervals that respect each user's whole history.

A user's days, sessions and messages are correlated (regulars are regulars every day), so
the unit resampled is the user, never a single day or message.
"""

from __future__ import annotations

import numpy as np

DEFAULT_DRAWS = 400
DEFAULT_LEVEL = 0.95


def user_weights(n: int, draws: int, rng: np.random.Generator) -> np.ndarray:
    """`draws` × `n` resampling counts: row b says how often each user appears in draw b."""
    if n == 0:
        return np.zeros((draws, 0))
    return rng.multinomial(n, np.full(n, 1.0 / n), size=draws).astype(float)


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
    weights = user_weights(numerator.size, draws, rng)
    num, den = weights @ numerator, weights @ denominator
    with np.errstate(divide="ignore", invalid="ignore"):
        values = np.where(den > 0, num / den, np.nan)
    return percentile_interval(values, level)
