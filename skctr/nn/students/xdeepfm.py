"""The compressed interaction network (CIN) and xDeepFM students."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import LinearTerm, MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import register_student


class CompressedInteractionNetwork(nn.Module):
    """CIN: vector-wise explicit interactions of growing order, sum-pooled per layer.

    With ``X^0 = E`` (B, F, D) and ``H_0 = F``, layer ``k`` forms every
    Hadamard product of a row of ``X^0`` with a row of ``X^{k-1}``,
    ``Z^k`` of shape (B, F * H_{k-1}, D), and compresses it with a 1x1
    convolution ``Conv1d(F * H_{k-1} -> H_k, kernel_size=1, bias=True)`` into
    ``X^k`` (B, H_k, D). Each ``X^k`` is sum-pooled over ``D`` into ``p^k``
    (B, H_k), and ``Linear(sum_k H_k -> output_dim)`` reads
    ``[p^1, ..., p^K]``. No activation, and no split-half: every layer feeds
    both the next layer and the output.
    """

    def __init__(self, num_fields: int, hidden_units: Sequence[int], output_dim: int = 1):
        super().__init__()
        hidden_units = list(hidden_units)
        if not hidden_units or min(hidden_units) < 1:
            raise ValueError(f"cin_hidden_units must be a non-empty sequence of positive ints, got {hidden_units}.")
        previous = [num_fields] + hidden_units[:-1]
        self.layers = nn.ModuleList(
            nn.Conv1d(num_fields * h_in, h_out, kernel_size=1) for h_in, h_out in zip(previous, hidden_units)
        )
        self.fc = nn.Linear(sum(hidden_units), output_dim)
        self.hidden_dim = sum(hidden_units)
        xavier_init(self)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return self.forward_hidden(embeddings)[0]

    def forward_hidden(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, [p^1, ..., p^K])``: the pooled feature maps are what the output layer reads."""
        batch, _, dim = embeddings.shape
        x = embeddings
        pooled = []
        for conv in self.layers:
            z = (embeddings.unsqueeze(2) * x.unsqueeze(1)).reshape(batch, -1, dim)  # (B, F * H_{k-1}, D)
            x = conv(z)
            pooled.append(x.sum(dim=-1))
        pooled = torch.cat(pooled, dim=1)
        return self.fc(pooled), pooled


@register_student("cin")
class CINStudent(StudentNetwork):
    """The compressed interaction network alone: ``logit = CIN(E)``.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    cin_hidden_units : sequence of int, default=(32, 32, 32)
        Number of feature maps ``H_k`` of each CIN layer.

    Notes
    -----
    Reproduces FuxiCTR's ``CompressedInteractionNet`` with ``output_dim=1``
    and the ``CompressedInteractionNet`` of KDEF's ``Backbone.py``: Conv1d with kernel 1 and bias,
    sum pooling over the embedding dims, ``Linear(sum H_k -> 1)`` with bias,
    xavier-normal weights and zero biases. It has
    ``sum_k (F H_{k-1} H_k + H_k) + sum_k H_k + 1`` parameters (``H_0 = F``).
    Deviation from the xDeepFM paper (shared with the references): no
    split-half of the feature maps and no activation.
    """

    def __init__(self, num_fields: int, embedding_dim: int, *, cin_hidden_units: Sequence[int] = (32, 32, 32)):
        super().__init__()
        self.cin = CompressedInteractionNetwork(num_fields, cin_hidden_units, 1)
        self.hidden_dim = self.cin.hidden_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        logit, pooled = self.cin.forward_hidden(embeddings)
        return logit.squeeze(-1), pooled


@register_student("xdeepfm")
class XDeepFMStudent(StudentNetwork):
    """xDeepFM: ``logit = Linear(flatten(E)) + CIN(E) + MLP(flatten(E))``.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    cin_hidden_units : sequence of int, default=(32, 32, 32)
        Number of feature maps of each CIN layer (see :class:`CINStudent`).
    hidden_units : sequence of int, default=(500, 500, 500)
        Hidden layer widths of the MLP; empty drops the MLP term.
    dropout : float, default=0.0
        Dropout after each hidden layer of the MLP.
    batch_norm : bool, default=False
        Batch normalisation before each MLP activation.
    linear_bias : bool, default=False
        Whether the linear term has a bias. FuxiCTR's LR has none (the MLP's
        output layer and the CIN's ``fc`` already carry one); KDEF's Backbone
        ``xDeepFM`` uses ``nn.Linear(FD, 1)`` with a bias.

    Notes
    -----
    Reproduces the ``xDeepFM`` of KDEF's ``Backbone.py`` and FuxiCTR's
    ``xDeepFM``; defaults are FuxiCTR's
    template (CIN [32]*3, DNN [500]*3, no dropout, no BN).

    Deviation: a student sees only the field embedding ``E``, not the raw
    ids, so the "LR" term cannot be FuxiCTR's per-id logistic regression
    (a 1-dim embedding per id). As in KDEF's Backbone it is a dense
    ``Linear(F * D -> 1)`` on ``flatten(E)`` (:class:`~skctr.nn.layers.LinearTerm`),
    a linear function of the shared embedding rather than a separate weight per id.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        cin_hidden_units: Sequence[int] = (32, 32, 32),
        hidden_units: Sequence[int] = (500, 500, 500),
        dropout: float = 0.0,
        batch_norm: bool = False,
        linear_bias: bool = False,
    ):
        super().__init__()
        width = num_fields * embedding_dim
        self.linear = LinearTerm(num_fields, embedding_dim, bias=linear_bias)
        self.cin = CompressedInteractionNetwork(num_fields, cin_hidden_units, 1)
        self.mlp = MLPBlock(width, hidden_units, 1, dropout=dropout, batch_norm=batch_norm) if len(hidden_units) else None
        # After the CIN and the MLP are built: the order of the random draws fixes what a seeded build gets.
        xavier_init(self.linear)
        self.hidden_dim = 1 + self.cin.hidden_dim + (self.mlp.hidden_dim if self.mlp is not None else 0)

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        linear = self.linear(embeddings)
        cin_logit, pooled = self.cin.forward_hidden(embeddings)
        logit, hidden = linear + cin_logit, [linear, pooled]
        if self.mlp is not None:
            mlp_logit, mlp_hidden = self.mlp.forward_hidden(embeddings.flatten(1))
            logit = logit + mlp_logit
            hidden.append(mlp_hidden)
        return logit.squeeze(-1), torch.cat(hidden, dim=1)
