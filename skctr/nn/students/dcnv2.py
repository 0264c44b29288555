"""The deep & cross network v2 (DCNv2) student, with the full-rank and the low-rank mixture cross networks."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import register_student

STRUCTURES = ("parallel", "stacked", "crossnet_only", "stacked_parallel")


class CrossNetV2(nn.Module):
    """Full-rank cross network: ``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l`` with ``W_l`` of shape (d, d).

    Works on ``x_0`` of shape (B, d) and returns ``x_L`` of the same shape.
    ``W_l`` is xavier-normal, ``b_l`` zero.
    """

    def __init__(self, width: int, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(num_layers))
        xavier_init(self)

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for layer in self.layers:
            x = x0 * layer(x) + x
        return x


class CrossNetMix(nn.Module):
    """Mixture of low-rank cross experts (DCN-Mix).

    For layer ``l`` and expert ``k``, with ``U_lk`` and ``V_lk`` of shape
    (d, r), ``C_lk`` of shape (r, r) and one bias ``b_l`` per layer shared by
    the experts::

        E_k(x_l) = x_0 * (U_lk tanh(C_lk tanh(V_lk^T x_l)) + b_l)
        x_{l+1}  = sum_k softmax_k(g(x_l)) E_k(x_l) + x_l

    where the gate ``g(x) = W_g x`` (W_g of shape (K, d), no bias) is one
    set of ``K`` scores shared by all the layers.

    Initialisation follows FuxiCTR: ``U``, ``V`` and ``C`` of a layer are
    (K, d, r), (K, d, r) and (K, r, r) tensors each drawn with
    ``xavier_normal_`` on the whole 3-D tensor, so their standard deviations
    are ``sqrt(2 / (r (d + K)))`` for ``U`` and ``V`` and
    ``sqrt(2 / (r (r + K)))`` for ``C``; every expert's gate row is
    xavier-normal as a ``Linear(d, 1)`` (std ``sqrt(2 / (d + 1))``); the
    biases are zero.
    """

    def __init__(self, width: int, num_layers: int, *, low_rank: int = 32, num_experts: int = 4):
        super().__init__()
        if low_rank < 1 or num_experts < 1:
            raise ValueError(f"low_rank and num_experts must be positive, got {low_rank} and {num_experts}.")
        self.U = nn.ParameterList(nn.Parameter(torch.empty(num_experts, width, low_rank)) for _ in range(num_layers))
        self.V = nn.ParameterList(nn.Parameter(torch.empty(num_experts, width, low_rank)) for _ in range(num_layers))
        self.C = nn.ParameterList(nn.Parameter(torch.empty(num_experts, low_rank, low_rank)) for _ in range(num_layers))
        self.bias = nn.ParameterList(nn.Parameter(torch.zeros(width)) for _ in range(num_layers))
        self.gate = nn.Linear(width, num_experts, bias=False)
        for tensors in (self.U, self.V, self.C):
            for tensor in tensors:
                nn.init.xavier_normal_(tensor)
        # K separate Linear(d, 1) layers, each xavier-normal: std sqrt(2 / (d + 1)).
        nn.init.normal_(self.gate.weight, std=math.sqrt(2.0 / (width + 1)))

    def forward(self, x0: torch.Tensor) -> torch.Tensor:
        x = x0
        for U, V, C, bias in zip(self.U, self.V, self.C, self.bias):
            weights = torch.softmax(self.gate(x), dim=1)  # (B, K)
            low = torch.tanh(torch.einsum("bd,kdr->bkr", x, V))
            low = torch.tanh(torch.einsum("kst,bkt->bks", C, low))
            experts = x0.unsqueeze(1) * (torch.einsum("kdr,bkr->bkd", U, low) + bias)  # (B, K, d)
            x = torch.einsum("bk,bkd->bd", weights, experts) + x
        return x


@register_student("dcnv2")
class DCNv2Student(StudentNetwork):
    """Deep & cross network v2: a cross network on ``x_0 = flatten(E)`` combined with a DNN.

    ``model_structure`` decides how (DNN = ReLU MLP without an output layer,
    ``fc`` = ``Linear(. -> 1)``):

    * ``"parallel"``: ``fc([x_L, DNN(x_0)])``
    * ``"stacked"``: ``fc(DNN(x_L))``
    * ``"crossnet_only"``: ``fc(x_L)``
    * ``"stacked_parallel"``: ``fc([DNN_s(x_L), DNN_p(x_0)])``

    where ``x_L`` is the output of the full-rank :class:`CrossNetV2`
    (``x_{l+1} = x_0 * (W_l x_l + b_l) + x_l``) or, with
    ``use_low_rank_mixture=True``, of the mixture of low-rank experts
    :class:`CrossNetMix`.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads; the cross network is
        ``num_fields * embedding_dim`` wide.
    model_structure : {"parallel", "stacked", "crossnet_only", "stacked_parallel"}, default="parallel"
        How the cross network and the DNN are combined (see above).
    num_cross_layers : int, default=3
        Number of cross layers.
    use_low_rank_mixture : bool, default=False
        Use :class:`CrossNetMix` instead of the full-rank :class:`CrossNetV2`.
    low_rank : int, default=32
        Rank ``r`` of each expert (mixture only).
    num_experts : int, default=4
        Number of experts ``K`` (mixture only).
    hidden_units : sequence of int, default=(500, 500, 500)
        Hidden layer widths of the DNN(s); unused with ``"crossnet_only"``.
    stacked_hidden_units, parallel_hidden_units : sequence of int or None, default=None
        Widths of ``DNN_s`` (on ``x_L``) and ``DNN_p`` (on ``x_0``) when they
        should differ from ``hidden_units`` (FuxiCTR's
        ``stacked_dnn_hidden_units`` / ``parallel_dnn_hidden_units``).
    dropout : float, default=0.0
        Dropout after each hidden layer of the DNN(s); the cross network has none.
    batch_norm : bool, default=False
        Batch normalisation before each DNN activation.

    Notes
    -----
    Reproduces FuxiCTR's ``DCNv2`` and the ``DCNv2``/``CrossNetV2`` classes of
    KDEF's ``Backbone.py``: xavier-normal
    Linear weights, zero biases, tanh for both non-linearities of the
    mixture, one bias per layer shared by the experts, gate scores computed
    from ``x_l`` by gates shared across layers, ``U``/``V``/``C`` drawn as in
    FuxiCTR (see :class:`CrossNetMix`). Defaults are FuxiCTR's DCNv2 template
    (parallel, 3 cross layers, DNN [500]*3, no dropout, no BN, full rank).

    Deviations: the mixture's final ``squeeze()`` without a dimension, which
    breaks a batch of one in FuxiCTR, is not reproduced (any batch size
    works); the parallel head reads ``[x_L, DNN(x_0)]`` as in FuxiCTR, whereas
    KDEF's Backbone concatenates ``[DNN(x_0), x_L]``, a permutation of the
    ``fc`` weights with the same function class. With empty ``hidden_units``
    a DNN is the identity.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        model_structure: str = "parallel",
        num_cross_layers: int = 3,
        use_low_rank_mixture: bool = False,
        low_rank: int = 32,
        num_experts: int = 4,
        hidden_units: Sequence[int] = (500, 500, 500),
        stacked_hidden_units: Sequence[int] | None = None,
        parallel_hidden_units: Sequence[int] | None = None,
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        if model_structure not in STRUCTURES:
            raise ValueError(f"model_structure must be one of {STRUCTURES}, got {model_structure!r}.")
        if num_cross_layers < 1:
            raise ValueError(f"num_cross_layers must be at least 1, got {num_cross_layers}.")
        self.model_structure = model_structure
        width = num_fields * embedding_dim
        if use_low_rank_mixture:
            self.crossnet = CrossNetMix(width, num_cross_layers, low_rank=low_rank, num_experts=num_experts)
        else:
            self.crossnet = CrossNetV2(width, num_cross_layers)

        def dnn(units):
            units = hidden_units if units is None else units
            return MLPBlock(width, units, None, dropout=dropout, batch_norm=batch_norm)

        self.stacked_dnn = dnn(stacked_hidden_units) if model_structure in ("stacked", "stacked_parallel") else None
        self.parallel_dnn = dnn(parallel_hidden_units) if model_structure in ("parallel", "stacked_parallel") else None
        fc_in = self.stacked_dnn.output_dim if self.stacked_dnn is not None else width
        if self.parallel_dnn is not None:
            fc_in += self.parallel_dnn.output_dim
        self.fc = nn.Linear(fc_in, 1)
        xavier_init(self.fc)
        self.hidden_dim = fc_in

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        x0 = embeddings.flatten(1)
        out = self.crossnet(x0)
        if self.stacked_dnn is not None:
            out = self.stacked_dnn(out)
        if self.parallel_dnn is not None:
            out = torch.cat([out, self.parallel_dnn(x0)], dim=1)
        return self.fc(out).squeeze(-1), out
