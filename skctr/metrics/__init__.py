"""CTR metrics."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import log_loss, roc_auc_score

# Probabilities are clipped here before the logloss, as FuxiCTR's evaluation does.
_LOGLOSS_EPS = 1e-7


def binary_scores(y, probability) -> tuple[float, float]:
    """``(AUC, logloss)`` of click probabilities; AUC is NaN when ``y`` has one class."""
    y = np.asarray(y)
    probability = np.clip(np.asarray(probability, dtype=np.float64), _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    auc = roc_auc_score(y, probability) if np.unique(y).size == 2 else float("nan")
    return float(auc), float(log_loss(y, probability, labels=[0, 1]))


__all__ = ["binary_scores"]
