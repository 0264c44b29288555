"""FINAL as a model of its own: 1 block, or 2 blocks with self-distillation (docs/algorithms.md, "FINAL")."""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ..fields import FieldSpec
from .embedding import FieldEmbedding
from .students import create_student
from .weighting import bce_with_logits


def final_loss(block_logits: torch.Tensor, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """BCE of the mean-logit prediction, plus, with two blocks, each block's BCE towards the detached prediction
    (batch means, weighted by ``sample_weight`` when given)."""
    logit = block_logits.mean(dim=1)
    loss = bce_with_logits(logit, y.reshape(-1), sample_weight)
    if block_logits.shape[1] > 1:
        soft_target = torch.sigmoid(logit).detach().unsqueeze(1).expand_as(block_logits)
        loss = loss + block_logits.shape[1] * bce_with_logits(block_logits, soft_target, sample_weight)
    return loss


class FINALNet(nn.Module):
    """A field embedding and one FINAL network (registry ``"final"``) with its blocks exposed as members.

    Forward returns ``(0.5 * (z1 + z2) or z1, block logits (B, blocks))``.
    """

    def __init__(self, field_spec: FieldSpec, embedding_dim: int, final_params: Mapping | None = None):
        super().__init__()
        self.embedding = FieldEmbedding(field_spec, embedding_dim)
        self.final = create_student(("final", dict(final_params or {})), len(field_spec), embedding_dim)

    def forward(self, ids: torch.Tensor, values: torch.Tensor):
        block_logits = torch.stack(self.final.forward_blocks(self.embedding(ids, values)), dim=1)
        return block_logits.mean(dim=1), block_logits

    def loss(self, output, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        return final_loss(output[1], y, sample_weight)

    def block_as_student(self, block: int) -> nn.Module:
        """Block ``block`` (0 or 1) as a standalone one-block FINAL network holding the same weights."""
        params = dict(self.final.student_params)
        block2_units = params.pop("block2_hidden_units", (400,))
        block2_dropout = params.pop("block2_dropout", None)
        params["blocks"] = 1
        state = self.final.state_dict()
        if block == 0:
            state = {key: value for key, value in state.items() if key.startswith(("gate.", "block1.", "fc1."))}
        else:
            # Block 2 reads the ungated embedding: a one-block network without a gate, its layers renamed.
            params.update(field_gate=False, hidden_units=block2_units)
            params.pop("gate_init", None)
            params.pop("gate_residual", None)
            if block2_dropout is not None:
                params["dropout"] = block2_dropout
            renames = {"block2.": "block1.", "fc2.": "fc1."}
            state = {
                renames[old] + key[len(old):]: value for key, value in state.items()
                for old in renames if key.startswith(old)
            }
        student = create_student(("final", params), self.embedding.num_fields, self.embedding.embedding_dim)
        student.load_state_dict(state)
        return student
