"""Building blocks shared by the networks."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def xavier_init(module: nn.Module) -> None:
    """The CTR convention: xavier-normal weights and zero biases for every Linear and Conv1d.

    Published CTR baselines converge with this initialisation; PyTorch's default
    (Kaiming-uniform) trains noticeably slower on sparse embedding input.
    """
    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d)):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


class MLPBlock(nn.Module):
    """Linear -> [BatchNorm] -> ReLU -> [Dropout] per hidden layer, then an optional output Linear.

    Parameters
    ----------
    input_dim : int
        Width of the input vector.
    hidden_units : sequence of int
        Width of each hidden layer.
    output_dim : int or None, default=None
        Width of a final Linear layer without activation; None returns the
        last hidden vector (which still has batch norm, activation and dropout).
    dropout : float, default=0.0
        Dropout rate after every hidden activation.
    batch_norm : bool, default=False
        Batch normalisation before every hidden activation.
    """

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        output_dim: int | None = None,
        *,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        width = input_dim
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            layers.append(nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.input_dim = input_dim
        #: Width of the last hidden vector (the input width when there are no hidden layers).
        self.hidden_dim = width
        self.has_output_layer = output_dim is not None
        if output_dim is not None:
            layers.append(nn.Linear(width, output_dim))
            width = output_dim
        self.output_dim = width
        self.layers = nn.Sequential(*layers)
        xavier_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)

    def forward_hidden(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(output, last hidden vector)``; the block must have an output layer."""
        if not self.has_output_layer:
            raise ValueError("forward_hidden needs an MLPBlock built with output_dim.")
        hidden = self.layers[:-1](x)
        return self.layers[-1](hidden), hidden


class LinearTerm(nn.Linear):
    """The wide (first-order) term of a student: ``Linear(F * D -> 1)`` on ``flatten(E)``, shape (B, 1).

    A student sees only the field embedding ``E``, not the raw ids, so the
    first-order term cannot be per-id weights; as in KDEF's Backbone it is a
    dense linear function of the flattened embedding. It is an ``nn.Linear``
    (so :func:`xavier_init` reaches it) that also reads the stacked (B, F, D)
    embedding; an already flattened (B, F * D) input gives the same result.
    It keeps PyTorch's initialisation: the network applies :func:`xavier_init`
    once its other parts are built, which fixes the seeded draw order.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    bias : bool, default=False
        Whether the term has a bias.
    """

    def __init__(self, num_fields: int, embedding_dim: int, *, bias: bool = False):
        super().__init__(num_fields * embedding_dim, 1, bias=bias)

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return super().forward(embeddings.flatten(1))
