"""The plain deep network (DNN) student."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..layers import MLPBlock
from .base import StudentNetwork
from .registry import register_student


@register_student("mlp")
class MLPStudent(StudentNetwork):
    """A multi-layer perceptron over the flattened field embedding.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    hidden_units : sequence of int, default=(400, 400, 400)
        Hidden layer widths (the tuned DNN of the CTR benchmarks).
    dropout : float, default=0.2
        Dropout after each hidden layer.
    batch_norm : bool, default=True
        Batch normalisation before each activation.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.mlp = MLPBlock(num_fields * embedding_dim, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
        self.hidden_dim = self.mlp.hidden_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        logit, hidden = self.mlp.forward_hidden(embeddings.flatten(1))
        return logit.squeeze(-1), hidden
