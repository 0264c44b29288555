"""The DeepFM student, with a per-sample factorisation-machine term."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .registry import register_student
from .wide_deep import WideDeepStudent


def fm_second_order(embeddings: torch.Tensor) -> torch.Tensor:
    """Per-sample FM interaction ``sum_{i<j} <E_i, E_j>`` of (B, F, D), shape (B,).

    Computed as ``0.5 * sum_d[(sum_f E_fd)^2 - sum_f E_fd^2]``: the sums run
    over the field axis of each sample, never over the batch.
    """
    square_of_sum = embeddings.sum(dim=1).square()
    sum_of_square = embeddings.square().sum(dim=1)
    return 0.5 * (square_of_sum - sum_of_square).sum(dim=-1)


@register_student("deepfm")
class DeepFMStudent(WideDeepStudent):
    """DeepFM: ``logit = Linear(flatten(E)) + FM(E) + MLP(flatten(E))``.

    ``FM(E) = sum_{i<j} <E_i, E_j> = 0.5 * sum_d[(sum_f E_fd)^2 - sum_f E_fd^2]``
    for each sample (see :func:`fm_second_order`); it has no parameters.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    hidden_units : sequence of int, default=(300, 300, 300)
        Hidden layer widths of the deep part; empty drops it (the student is
        then the FM alone).
    dropout : float, default=0.0
        Dropout after each hidden layer.
    batch_norm : bool, default=False
        Batch normalisation before each activation.
    linear_bias : bool, default=True
        Whether the first-order term has a bias, as FuxiCTR's FM's LR does.

    Notes
    -----
    Reproduces FuxiCTR's ``DeepFM`` (FM = LR with bias + sum-pooled second
    order, plus an MLP on the same embedding); xavier-normal weights, zero
    biases. Defaults are FuxiCTR's DeepFM template ([300]*3, no dropout, no
    BN).

    Deviations: (1) a student sees only the field embedding ``E``, not the
    raw ids, so the first-order term cannot be the per-id weights of an FM;
    as in KDEF's Backbone students it is a dense ``Linear(F * D -> 1)`` on
    ``flatten(E)``, the :class:`~skctr.nn.layers.LinearTerm` of Wide & Deep. (2) TF4CTRv2_DeepFM's FM term is deliberately not
    reproduced: it receives a flattened embedding and ends up summed over
    the batch, one scalar broadcast to every sample (the TF4CTR
    reference code). Here the FM term is computed per sample on the stacked
    (B, F, D) embedding.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        hidden_units: Sequence[int] = (300, 300, 300),
        dropout: float = 0.0,
        batch_norm: bool = False,
        linear_bias: bool = True,
    ):
        super().__init__(
            num_fields, embedding_dim, hidden_units=hidden_units, dropout=dropout, batch_norm=batch_norm, linear_bias=linear_bias
        )
        self.hidden_dim += 1

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        if embeddings.dim() != 3:
            raise ValueError(f"DeepFM needs the stacked (B, F, D) field embedding, got shape {tuple(embeddings.shape)}.")
        logit, hidden = super().forward_hidden(embeddings)
        fm = fm_second_order(embeddings)
        return logit + fm, torch.cat([fm.unsqueeze(1), hidden], dim=1)
