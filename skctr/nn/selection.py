"""TF4CTR's sample selection: per-sample inputs of the simple and complex branches from one field embedding."""
from __future__ import annotations

import torch
from torch import nn

from .layers import MLPBlock

#: Selections that transform the embedding (``"ser"`` and ``"share"`` only choose tables).
SELECTIONS = ("gate", "moe")


class SampleGate(nn.Module):
    """A scalar gate per sample, ``g = sigmoid(MLP(e))`` with one hidden layer of width ``max(width // 4, 1)``."""

    def __init__(self, width: int, *, dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        self.mlp = MLPBlock(width, [max(width // 4, 1)], 1, dropout=dropout, batch_norm=batch_norm)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(e))


class SelectionExperts(nn.Module):
    """Two expert MLPs mixed per sample by softmax gates, one gate per reader (MMoE).

    Returns a list with one mixture of the experts' outputs per gate.
    """

    def __init__(self, width: int, n_gates: int, *, dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        mlp = {"dropout": dropout, "batch_norm": batch_norm}
        self.experts = nn.ModuleList(MLPBlock(width, [width // 2, width], **mlp) for _ in range(2))
        self.gates = nn.ModuleList(MLPBlock(width, [max(width // 4, 1)], 2, **mlp) for _ in range(n_gates))

    def forward(self, e: torch.Tensor) -> list[torch.Tensor]:
        experts = torch.stack([expert(e) for expert in self.experts], dim=1)  # (B, 2, width)
        return [torch.softmax(gate(e), dim=1).unsqueeze(-1).mul(experts).sum(1) for gate in self.gates]


def make_selector(selection: str, width: int, n_readers: int, **mlp) -> nn.Module:
    """The selection module of ``selection`` for a flat embedding of ``width``; ``n_readers`` gates under ``"moe"``."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}.")
    return SampleGate(width, **mlp) if selection == "gate" else SelectionExperts(width, n_readers, **mlp)


def selected_inputs(selector: nn.Module, e: torch.Tensor) -> list[torch.Tensor]:
    """The readers' inputs from the flat embedding ``e`` (B, F * D).

    A gate gives ``[e * g, e * (1 - g)]`` (simple side first); the experts give
    one mixture per gate.
    """
    if isinstance(selector, SampleGate):
        g = selector(e)
        return [e * g, e * (1 - g)]
    return selector(e)
