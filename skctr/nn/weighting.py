"""Sample weights in every loss: reductions over the batch that a weight of k makes equal to k copies of a row.

Each loss term of the frameworks is a mean (or, for CETNet's literal KL, a
sum) over the samples of a batch. With per-sample weights ``w`` the mean
becomes ``sum_i w_i v_i / sum_i w_i`` and the sum ``sum_i w_i v_i``: an
integer weight then gives exactly the loss, and the gradient, of that many
copies of the row, and a zero weight that of a dropped row. ``weight=None``
is the plain mean and sum.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def weighted_mean(values: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the first (sample) dimension, weighted by ``weight`` (B,) when given."""
    if weight is None:
        return values.mean(dim=0)
    weight = weight.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    return (weight * values).sum(dim=0) / weight.sum()


def weighted_sum(values: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Sum over the first (sample) dimension, weighted by ``weight`` (B,) when given."""
    if weight is None:
        return values.sum(dim=0)
    weight = weight.to(values.dtype).reshape(-1, *([1] * (values.dim() - 1)))
    return (weight * values).sum(dim=0)


def bce_with_logits(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Binary cross-entropy of ``logits`` (B,) or (B, K) against ``targets`` of the same shape, averaged over the
    samples (weighted) and then over the columns."""
    per_sample = F.binary_cross_entropy_with_logits(logits, targets.to(logits.dtype), reduction="none")
    return weighted_mean(per_sample, weight).mean()
