"""Fit a ranker's `Calibration` on held-out preference pairs: the logistic model
P(chosen wins) = σ(scale · margin + length_weight · length gap), by Newton's method.

A pair's two replies are symmetric (no intercept), so the fit only says how much to trust the
model's margin and how much the replies' lengths say on top of it. Accuracy after calibration
is measured by cross-validation: each fold is scored by a fit on the other folds.
"""

from __future__ import annotations

import numpy as np

from .meta import Calibration

RIDGE = 1e-2  # keeps the fit finite when one feature separates the pairs


def fit(margins: np.ndarray, gaps: np.ndarray, *, lengths: bool = True) -> Calibration:
    """The calibration that best explains chosen-over-rejected on these pairs."""
    x, _ = _features(margins, gaps, lengths)
    if len(x) == 0:
        return Calibration()
    w = np.array([1.0, 0.0])[: x.shape[1]]
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (1 - p) - RIDGE * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + RIDGE * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w += step
        if np.max(np.abs(step)) < 1e-8:
            break
    return Calibration(round(float(w[0]), 6), round(float(w[1]), 6) if lengths else 0.0)


def served(calibration: Calibration, margins: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Calibrated margins (pairs an empty reply decided keep their margin)."""
    out = calibration.scale * margins + calibration.length_weight * np.nan_to_num(gaps)
    return np.where(np.isnan(gaps), margins, out)


def cross_validated_accuracy(margins: np.ndarray, gaps: np.ndarray, folds: int = 5,
                             *, lengths: bool = True) -> float:
    """Accuracy of calibrated margins, each pair scored by a fit that did not see it."""
    n = len(margins)
    if n < folds:
        return float(np.mean(served(fit(margins, gaps, lengths=lengths), margins, gaps) > 0))
    fold = np.arange(n) % folds
    correct = 0
    for k in range(folds):
        train, test = fold != k, fold == k
        cal = fit(margins[train], gaps[train], lengths=lengths)
        correct += int(np.sum(served(cal, margins[test], gaps[test]) > 0))
    return correct / n


def _features(margins: np.ndarray, gaps: np.ndarray, lengths: bool
              ) -> tuple[np.ndarray, np.ndarray]:
    keep = ~np.isnan(gaps)
    cols = [margins[keep], gaps[keep]] if lengths else [margins[keep]]
    return np.stack(cols, axis=1), keep
