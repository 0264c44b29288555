"""The inner-product neural network (IPNN) student."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from ..interactions import PairwiseDotProduct
from ..layers import MLPBlock
from .base import StudentNetwork
from .registry import register_student


@register_student("pnn")
class PNNStudent(StudentNetwork):
    """Inner-product PNN: an MLP over the flattened embedding and all pairwise field inner products.

    The MLP reads ``[flatten(E), ip]`` where ``ip`` holds ``<E_i, E_j>`` for
    every pair ``i < j`` in row-major upper-triangular order, a vector of
    ``F (F - 1) / 2`` entries.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    hidden_units : sequence of int, default=(400, 400, 400)
        Hidden layer widths.
    dropout : float, default=0.1
        Dropout after each hidden layer.
    batch_norm : bool, default=True
        Batch normalisation before each activation.

    Notes
    -----
    Reproduces the ProductNetwork student of KDEF's EKTF_L and FuxiCTR's
    ``PNN`` with ``product_type="inner"``: ReLU MLP, xavier-normal weights, zero biases. With F=39, D=16 and
    [400]*3 with BN it has 870,001 parameters, as in the log. The defaults
    are EKTF_L's Criteo setting (dropout 0.1, BN on) rather than FuxiCTR's
    template ([300]*3, no BN, no dropout). Outer products are not offered
    (the reference does not implement them either).
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.1,
        batch_norm: bool = True,
    ):
        super().__init__()
        #: ``<E_i, E_j>`` for i < j, row-major: (B, F, D) -> (B, F (F - 1) / 2).
        self.inner_products = PairwiseDotProduct(num_fields)
        input_dim = num_fields * embedding_dim + self.inner_products.output_dim
        self.mlp = MLPBlock(input_dim, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
        self.hidden_dim = self.mlp.hidden_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        x = torch.cat([embeddings.flatten(1), self.inner_products(embeddings)], dim=1)
        logit, hidden = self.mlp.forward_hidden(x)
        return logit.squeeze(-1), hidden
