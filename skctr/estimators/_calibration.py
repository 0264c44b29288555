"""Platt scaling of logits: ``a * z + b`` fitted by maximum likelihood on validation data."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

IDENTITY = (1.0, 0.0)


def fit_platt(logits: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Scale and shift of ``logits`` minimising the logloss against ``y``.

    A monotone map, so ranking (AUC) is unchanged. Early stopping on AUC lets
    a network train past its logloss optimum, where it is overconfident; this
    undoes most of that at the cost of two parameters.
    """
    z = torch.as_tensor(np.asarray(logits, dtype=np.float64))
    target = torch.as_tensor(np.asarray(y, dtype=np.float64))
    params = torch.tensor(IDENTITY, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([params], max_iter=100, tolerance_grad=1e-10, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(params[0] * z + params[1], target)
        loss.backward()
        return loss

    optimizer.step(closure)
    scale, shift = params.detach().tolist()
    if not (np.isfinite(scale) and np.isfinite(shift)) or scale <= 0:
        # A degenerate fit (e.g. a validation set the model ranks backwards) would flip predictions.
        return IDENTITY
    return scale, shift
