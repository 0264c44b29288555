"""The Wide & Deep student."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..layers import LinearTerm, MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import register_student


@register_student("wide_deep")
class WideDeepStudent(StudentNetwork):
    """Wide & Deep: ``logit = Linear(flatten(E)) + MLP(flatten(E))``.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    hidden_units : sequence of int, default=(300, 300, 300)
        Hidden layer widths of the deep part; empty drops it (the student is
        then the wide term alone).
    dropout : float, default=0.0
        Dropout after each hidden layer.
    batch_norm : bool, default=False
        Batch normalisation before each activation.
    linear_bias : bool, default=False
        Whether the wide term has a bias. FuxiCTR's wide part has none (the
        MLP's output layer carries one); KDEF's Backbone ``WideDeep`` uses
        ``nn.Linear(FD, 1)`` with a bias, a redundant second constant.

    Notes
    -----
    Reproduces the ``WideDeep`` of KDEF's ``Backbone.py`` and FuxiCTR's
    ``WideDeep``; xavier-normal weights, zero
    biases. Defaults are FuxiCTR's WideDeep template ([300]*3, no dropout,
    no BN).

    Deviation: a student sees only the field embedding ``E``, not the raw
    ids, so the wide part cannot be FuxiCTR's per-id logistic regression
    (nor cross-product features). As in KDEF's Backbone it is a dense
    ``Linear(F * D -> 1)`` on ``flatten(E)`` (:class:`~skctr.nn.layers.LinearTerm`).
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        hidden_units: Sequence[int] = (300, 300, 300),
        dropout: float = 0.0,
        batch_norm: bool = False,
        linear_bias: bool = False,
    ):
        super().__init__()
        width = num_fields * embedding_dim
        self.linear = LinearTerm(num_fields, embedding_dim, bias=linear_bias)
        self.mlp = MLPBlock(width, hidden_units, 1, dropout=dropout, batch_norm=batch_norm) if len(hidden_units) else None
        # After the MLP is built: the order of the random draws fixes what a seeded build gets.
        xavier_init(self.linear)
        self.hidden_dim = 1 + (self.mlp.hidden_dim if self.mlp is not None else 0)

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        logit = hidden = self.linear(embeddings)
        if self.mlp is not None:
            deep_logit, deep_hidden = self.mlp.forward_hidden(embeddings.flatten(1))
            logit, hidden = logit + deep_logit, torch.cat([hidden, deep_hidden], dim=1)
        return logit.squeeze(-1), hidden
