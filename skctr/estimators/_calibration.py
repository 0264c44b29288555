"""Platt scaling of logits: ``a * z + b`` fitted by maximum likelihood on validation data."""
from __future__ import annotations

import numpy as np
import torch

from ..nn.weighting import bce_with_logits

IDENTITY = (1.0, 0.0)


def fit_platt(logits: np.ndarray, y: np.ndarray, sample_weight=None) -> tuple[float, float]:
    """Scale and shift of ``logits`` minimising the logloss against ``y`` (weighted by ``sample_weight``).

    A monotone map, so ranking (AUC) is unchanged. Early stopping on AUC lets
    a network train past its logloss optimum, where it is overconfident; this
    undoes most of that at the cost of two parameters. When the best scale is
    not positive (a validation set the model ranks backwards), flipping the
    predictions is no calibration: the shift alone is fitted, which still
    matches the mean prediction to the (weighted) click rate. The targets
    are Platt's (1999) smoothed labels, ``(n+ + 1) / (n+ + 2)`` and
    ``1 / (n- + 2)`` with ``n`` the (weighted) class counts: on a small or
    separable validation set the plain maximum-likelihood scale diverges.
    """
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    weight = None if sample_weight is None else torch.as_tensor(np.asarray(sample_weight, dtype=np.float64))
    target = torch.as_tensor(_platt_targets(np.asarray(y, dtype=np.float64), sample_weight))
    scale, shift = _minimise(lambda p: bce_with_logits(p[0] * z + p[1], target, weight), IDENTITY)
    if np.isfinite(scale) and np.isfinite(shift) and scale > 0:
        return scale, shift
    (shift,) = _minimise(lambda p: bce_with_logits(z + p[0], target, weight), (0.0,))
    return (1.0, shift) if np.isfinite(shift) else IDENTITY


def _platt_targets(y: np.ndarray, sample_weight=None) -> np.ndarray:
    weight = np.ones_like(y) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    positives, negatives = weight[y == 1].sum(), weight[y == 0].sum()
    return np.where(y == 1, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def _minimise(loss, start) -> list[float]:
    params = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=100, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        value = loss(params)
        value.backward()
        return value

    optimizer.step(closure)
    return params.detach().tolist()
