"""One TF4CTR branch on its own: the sample selection it reads, then its encoder.

Under TF4CTR's ``ssem="gate"`` or ``"moe"`` a branch does not read the field
embedding directly but a per-sample selection of it. This network is that
branch alone, so a trained TF4CTR can hand one branch out as a standalone
estimator (``best_student_``); trained from scratch it is an MLP (or any
registry network) behind a learned per-sample input selection.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import create_student, register_student

SELECTIONS = ("gate", "moe")
BRANCHES = ("simple", "complex")


class SampleGate(nn.Module):
    """A scalar gate per sample, ``g = sigmoid(MLP(e))`` with one hidden layer of width ``width // 4``."""

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


@register_student("tf4ctr_branch")
class TF4CTRBranchStudent(StudentNetwork):
    """A TF4CTR branch: sample selection of the flattened embedding, then an encoder.

    ``selection="gate"``: ``x = e * g`` for the simple branch and
    ``x = e * (1 - g)`` for the complex one, ``g`` a scalar per sample;
    ``selection="moe"``: ``x`` is the branch's softmax-gated mixture of two
    expert MLPs. The encoder is an MLP with a linear head, or a registry
    network reading ``x`` reshaped to (B, F, D).

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    selection : {"gate", "moe"}, default="gate"
        TF4CTR's sample selection embedding module.
    branch : {"simple", "complex"}, default="complex"
        Which side of the gate this branch reads (``"gate"`` only).
    hidden_units : sequence of int, default=(400, 400, 400)
        MLP encoder widths (ignored with ``encoder``).
    dropout, batch_norm
        Of the selection MLPs and the MLP encoder.
    encoder : str, (str, dict) or None, default=None
        A registry network as the encoder instead of the MLP.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        selection: str = "gate",
        branch: str = "complex",
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = True,
        encoder=None,
    ):
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}.")
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}.")
        width = num_fields * embedding_dim
        mlp = {"dropout": dropout, "batch_norm": batch_norm}
        self.selection, self.branch, self.num_fields = selection, branch, num_fields
        self.selector = SampleGate(width, **mlp) if selection == "gate" else SelectionExperts(width, 1, **mlp)
        spec = ("mlp", {"hidden_units": tuple(hidden_units), **mlp}) if encoder is None else encoder
        self.encoder = create_student(spec, num_fields, embedding_dim, mlp)
        self.hidden_dim = self.encoder.hidden_dim
        xavier_init(self.selector)

    def select(self, e: torch.Tensor) -> torch.Tensor:
        """The branch's input from the flattened field embedding ``e`` (B, F * D)."""
        if self.selection == "moe":
            return self.selector(e)[0]
        g = self.selector(e)
        return e * g if self.branch == "simple" else e * (1 - g)

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        x = self.select(embeddings.flatten(1))
        return self.encoder.forward_hidden(x.view(x.shape[0], self.num_fields, -1), sequences)
