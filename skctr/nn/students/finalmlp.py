"""FinalMLP: two gated MLP streams fused by a multi-head bilinear aggregation (DualMLP without gates)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import register_student


class FeatureSelectionGate(nn.Module):
    """``g = 2 * sigmoid(MLP(ctx))`` with a learnable context vector ``ctx`` (zeros at init).

    The context does not depend on the sample, so the gate is one (1, output_dim)
    vector broadcast over the batch.
    """

    def __init__(self, context_dim: int, output_dim: int, hidden_units: Sequence[int]):
        super().__init__()
        self.context = nn.Parameter(torch.zeros(1, context_dim))
        self.mlp = MLPBlock(context_dim, hidden_units, output_dim)

    def forward(self) -> torch.Tensor:
        return 2.0 * torch.sigmoid(self.mlp(self.context))


class InteractionAggregation(nn.Module):
    """Multi-head bilinear fusion of two vectors into one logit.

    ``w_x^T x + b_x + w_y^T y + b_y + sum_h x_h^T W_h y_h`` where ``x_h``
    and ``y_h`` are the h-th of ``num_heads`` equal contiguous chunks of
    ``x`` (width ``x_dim``) and ``y`` (width ``y_dim``).
    """

    def __init__(self, x_dim: int, y_dim: int, num_heads: int = 1):
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}.")
        if x_dim % num_heads or y_dim % num_heads:
            raise ValueError(
                f"num_heads={num_heads} must divide both stream widths (mlp1: {x_dim}, mlp2: {y_dim})."
            )
        self.num_heads = num_heads
        self.w_x = nn.Linear(x_dim, 1)
        self.w_y = nn.Linear(y_dim, 1)
        self.w_xy = nn.Parameter(torch.empty(num_heads, x_dim // num_heads, y_dim // num_heads))
        xavier_init(self)
        # Xavier-normal of the reference's (H * hx * hy, 1) matrix: fan_in = 1, fan_out = H * hx * hy.
        nn.init.normal_(self.w_xy, std=math.sqrt(2.0 / (1 + self.w_xy.numel())))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        heads_x = x.reshape(x.shape[0], self.num_heads, -1)
        heads_y = y.reshape(y.shape[0], self.num_heads, -1)
        bilinear = torch.einsum("bha,hac,bhc->b", heads_x, self.w_xy, heads_y)
        return self.w_x(x).squeeze(-1) + self.w_y(y).squeeze(-1) + bilinear


@register_student("finalmlp")
class FinalMLPStudent(StudentNetwork):
    """FinalMLP: two MLP streams on feature-gated inputs, fused by multi-head bilinear aggregation.

    With ``e = flatten(E)``, stream j reads ``x_j = e * g_j`` where the gate
    ``g_j = 2 * sigmoid(MLP_j(c_j))`` comes from a learnable context vector
    ``c_j`` (zeros at init), and returns ``o_j = MLP_j(x_j)`` (last hidden
    vector, no output layer). The logit is
    ``w_1^T o_1 + b_1 + w_2^T o_2 + b_2 + sum_h o_{1,h}^T W_h o_{2,h}``.
    ``use_fs=False`` removes the gates (DualMLP).

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    mlp1_hidden_units : sequence of int, default=(400, 400, 400)
        Hidden widths of the first stream (its output is the last hidden
        vector; ``()`` passes ``x_1`` through unchanged).
    mlp2_hidden_units : sequence of int, default=(800,)
        Hidden widths of the second stream.
    use_fs : bool, default=True
        Feature-selection gates on the stream inputs; False gives DualMLP.
    fs_hidden_units : sequence of int, default=(800,)
        Hidden widths (ReLU, no batch norm, no dropout) of each gate's MLP,
        which maps the ``embedding_dim``-wide context to ``F * D``.
    num_heads : int, default=1
        Heads of the bilinear fusion; must divide the output widths of both
        streams.
    dropout : float, default=0.2
        Dropout after each hidden layer of both streams.
    batch_norm : bool, default=False
        Batch normalisation before each hidden activation of both streams.

    Notes
    -----
    Reproduces FuxiCTR's ``model_zoo/FinalMLP``
    with empty ``fs1_context``/``fs2_context``: the context of each gate is a
    zero-initialised learnable vector of width D, the gate MLP has a sigmoid
    output doubled, all Linears are xavier-normal with zero bias and the
    bilinear tensor is xavier-normal with the reference's fan (1 and
    ``H * (d1/H) * (d2/H)``). Deviations and consequences:

    * field-subset contexts (``fs1_context``/``fs2_context`` read through a
      separate feature embedding) are not available, since a student sees only
      the shared ``E``; only the learnable-bias context is offered;
    * because the context and every bias start at zero, the gate is exactly 1
      at init (FinalMLP then equals DualMLP), and the context and the gate's
      hidden weights receive zero gradient (every ReLU input is 0, whose
      derivative PyTorch takes as 0); only the gate's output bias learns, so
      in practice ``g_j = 2 * sigmoid(b_j)`` per coordinate. The reference
      behaves identically; with a constant context the set of reachable gates
      is the same anyway;
    * one ``dropout`` and one ``batch_norm`` serve both streams (the reference
      has ``mlp1_*`` and ``mlp2_*`` versions) and the shared ``hidden_units``
      is not accepted, as it would be ambiguous between the streams;
    * defaults are a deep [400]*3 stream and a wide [800] stream with an
      [800] gate MLP, dropout 0.2 and no BN, the shape of FinalMLP's Criteo
      setting (not checked against its config file), rather than FuxiCTR's
      template (mlp1 [1024, 512], mlp2 [1024, 512, 256], fs [1024, 512],
      2 heads); ``num_heads=1`` is a full bilinear form.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        mlp1_hidden_units: Sequence[int] = (400, 400, 400),
        mlp2_hidden_units: Sequence[int] = (800,),
        use_fs: bool = True,
        fs_hidden_units: Sequence[int] = (800,),
        num_heads: int = 1,
        dropout: float = 0.2,
        batch_norm: bool = False,
    ):
        super().__init__()
        input_dim = num_fields * embedding_dim
        self.mlp1 = MLPBlock(input_dim, mlp1_hidden_units, None, dropout=dropout, batch_norm=batch_norm)
        self.mlp2 = MLPBlock(input_dim, mlp2_hidden_units, None, dropout=dropout, batch_norm=batch_norm)
        self.fusion = InteractionAggregation(self.mlp1.output_dim, self.mlp2.output_dim, num_heads)
        if use_fs:
            self.gate1 = FeatureSelectionGate(embedding_dim, input_dim, fs_hidden_units)
            self.gate2 = FeatureSelectionGate(embedding_dim, input_dim, fs_hidden_units)
        else:
            self.gate1 = self.gate2 = None
        self.hidden_dim = self.mlp1.output_dim + self.mlp2.output_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        e = embeddings.flatten(1)
        x1, x2 = e, e
        if self.gate1 is not None:
            x1, x2 = e * self.gate1(), e * self.gate2()
        o1, o2 = self.mlp1(x1), self.mlp2(x2)
        return self.fusion(o1, o2), torch.cat([o1, o2], dim=1)
