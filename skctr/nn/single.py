"""One student on its own field embedding: the single-model baseline and ``best_student_``."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..fields import FieldSpec
from .embedding import FieldEmbedding
from .students import create_student
from .weighting import bce_with_logits


class SingleNetwork(nn.Module):
    """A field embedding followed by one student network.

    Parameters
    ----------
    field_spec : FieldSpec
    embedding_dim : int
    student : str or (str, dict)
        Registry name of the network, optionally with its parameters.
    shared_params : mapping, optional
        ``hidden_units``/``dropout``/``batch_norm`` for a student that accepts
        them, under its own parameters.

    Forward returns ``(logit (B,), logit (B, 1))``: the output contract of the
    ensemble modules (prediction, per-member logits) with one member.
    """

    def __init__(self, field_spec: FieldSpec, embedding_dim: int, student="mlp", shared_params: Mapping | None = None):
        super().__init__()
        self.embedding = FieldEmbedding(field_spec, embedding_dim)
        self.student = create_student(student, len(field_spec), embedding_dim, shared_params, self.embedding.sequence_layout)

    def forward(self, ids: torch.Tensor, values: torch.Tensor):
        logit = self.student(*self.embedding(ids, values, return_sequences=True))
        return logit, logit.unsqueeze(1)

    def loss(self, output, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        return bce_with_logits(output[0], y.reshape(-1), sample_weight)
