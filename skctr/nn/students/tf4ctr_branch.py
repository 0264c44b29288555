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

from ..layers import xavier_init
from ..selection import make_selector, selected_inputs
from .base import StudentNetwork
from .registry import create_student, register_student

BRANCHES = ("simple", "complex")


# Internal: what TF4CTR.branch_as_student builds; not a student to put in an ensemble.
@register_student("tf4ctr_branch", public=False)
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
        if branch not in BRANCHES:
            raise ValueError(f"branch must be one of {BRANCHES}, got {branch!r}.")
        width = num_fields * embedding_dim
        mlp = {"dropout": dropout, "batch_norm": batch_norm}
        self.selection, self.branch, self.num_fields = selection, branch, num_fields
        self.selector = make_selector(selection, width, 1, **mlp)
        spec = ("mlp", {"hidden_units": tuple(hidden_units), **mlp}) if encoder is None else encoder
        self.encoder = create_student(spec, num_fields, embedding_dim, mlp)
        self.hidden_dim = self.encoder.hidden_dim
        xavier_init(self.selector)

    def select(self, e: torch.Tensor) -> torch.Tensor:
        """The branch's input from the flattened field embedding ``e`` (B, F * D)."""
        inputs = selected_inputs(self.selector, e)  # one per gate: (simple, complex) or this branch's mixture
        return inputs[0] if self.selection == "moe" or self.branch == "simple" else inputs[1]

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        x = self.select(embeddings.flatten(1))
        return self.encoder.forward_hidden(x.view(x.shape[0], self.num_fields, -1), sequences)
