"""AutoInt / AutoInt+: multi-head self-attention over the fields, plus an optional DNN."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..interactions import MultiHeadAttention
from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .registry import register_student


class MultiHeadSelfAttention(MultiHeadAttention):
    """One interacting layer: self-attention across fields, residual, [LayerNorm], ReLU.

    Reads (B, F, input_dim) and returns (B, F, attention_dim). The attention
    (:class:`~skctr.nn.interactions.MultiHeadAttention` of the fields over
    themselves, bias-free projections) splits the width into ``num_heads``
    contiguous chunks of ``attention_dim // num_heads``; each head attends
    over the F fields and the heads are concatenated back in order.
    """

    def __init__(
        self,
        input_dim: int,
        attention_dim: int,
        num_heads: int,
        *,
        use_residual: bool = True,
        residual_projection: bool = False,
        use_scale: bool = False,
        layer_norm: bool = False,
        dropout: float = 0.0,
    ):
        super().__init__(input_dim, attention_dim, num_heads, bias=False, use_scale=use_scale, dropout=dropout)
        self.use_residual = use_residual
        project = use_residual and (residual_projection or input_dim != attention_dim)
        self.W_res = nn.Linear(input_dim, attention_dim, bias=False) if project else None
        self.layer_norm = nn.LayerNorm(attention_dim) if layer_norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(x, x)
        if self.use_residual:
            out = out + (self.W_res(x) if self.W_res is not None else x)
        if self.layer_norm is not None:
            out = self.layer_norm(out)
        return out.relu()


@register_student("autoint")
class AutoIntStudent(StudentNetwork):
    """AutoInt+: stacked multi-head self-attention over the fields plus a parallel DNN.

    ``logit = Linear(F * attention_dim -> 1)(flatten(attention(E))) + DNN(flatten(E))``.
    Each interacting layer projects the fields to queries, keys and values
    (bias-free Linears), takes a softmax over the dot products of every pair
    of fields per head, adds the residual, optionally layer-normalises and
    applies a ReLU.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    attention_layers : int, default=2
        Number of stacked interacting (self-attention) layers, at least 1.
    num_heads : int, default=2
        Attention heads per layer; must divide ``attention_dim``.
    attention_dim : int or None, default=None
        Width of every layer's output (all heads together); None means
        ``embedding_dim``.
    use_residual : bool, default=True
        Add the layer input back before the activation.
    residual_projection : bool, default=False
        Always pass the residual through a bias-free
        ``Linear(input_dim -> attention_dim)`` as in the AutoInt paper. When
        False the projection exists only where the widths differ (the first
        layer when ``attention_dim != embedding_dim``) and the residual is the
        identity elsewhere, as in the reference code.
    use_scale : bool, default=False
        Divide the attention scores by ``sqrt(attention_dim / num_heads)``.
    layer_norm : bool, default=False
        LayerNorm over ``attention_dim`` after the residual, before the ReLU.
    attention_dropout : float, default=0.0
        Dropout on the attention weights.
    hidden_units : sequence of int, default=(400, 400, 400)
        Hidden widths of the parallel DNN on ``flatten(E)`` whose logit is
        added; ``()`` drops the DNN, giving plain AutoInt.
    dropout : float, default=0.2
        Dropout after each DNN hidden layer.
    batch_norm : bool, default=True
        Batch normalisation before each DNN activation.

    Notes
    -----
    Reproduces the ``AutoInt`` class of KDEF's ``src/Backbone.py`` (the
    FuxiCTR ``MultiHeadSelfAttention`` layer): bias-free Q/K/V projections,
    contiguous head split, optional scaling by ``sqrt(head_dim)``, residual
    added before the optional LayerNorm, ReLU last, and a bias-free residual
    projection only where the widths differ. Deviations:

    * the reference uses one ``net_dropout`` for both the DNN and the
      attention weights; here they are separate (``dropout``,
      ``attention_dropout``), so ``attention_dropout=dropout`` restores it;
    * defaults differ from the reference's ([64]*3 DNN, 1 head,
      ``attention_dim=8``, no BN, ``use_scale=True`` in Backbone): the DNN
      defaults follow the other students (the tuned [400]*3 DNN of the CTR
      benchmarks), and ``attention_dim`` follows the embedding width;
    * ``hidden_units=()`` removes the DNN entirely (the reference's
      ``MLP_Block`` would still add a ``Linear(FD -> 1)``);
    * FuxiCTR's optional wide part (``use_wide``, a per-ID logistic
      regression) is not available, since a student sees only ``E``.
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        attention_layers: int = 2,
        num_heads: int = 2,
        attention_dim: int | None = None,
        use_residual: bool = True,
        residual_projection: bool = False,
        use_scale: bool = False,
        layer_norm: bool = False,
        attention_dropout: float = 0.0,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = True,
    ):
        super().__init__()
        if attention_dim is None:
            attention_dim = embedding_dim
        if attention_layers < 1:
            raise ValueError(f"attention_layers must be at least 1, got {attention_layers}.")
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}.")
        if attention_dim < 1 or attention_dim % num_heads:
            raise ValueError(
                f"attention_dim={attention_dim} must be a positive multiple of num_heads={num_heads}."
            )
        self.attention = nn.Sequential(*[
            MultiHeadSelfAttention(
                embedding_dim if layer == 0 else attention_dim,
                attention_dim,
                num_heads,
                use_residual=use_residual,
                residual_projection=residual_projection,
                use_scale=use_scale,
                layer_norm=layer_norm,
                dropout=attention_dropout,
            )
            for layer in range(attention_layers)
        ])
        self.fc = nn.Linear(num_fields * attention_dim, 1)
        xavier_init(self)
        self.dnn = (
            MLPBlock(num_fields * embedding_dim, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
            if len(hidden_units) > 0
            else None
        )
        self.hidden_dim = num_fields * attention_dim + (self.dnn.hidden_dim if self.dnn is not None else 0)

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        attended = self.attention(embeddings).flatten(1)
        logit, hidden = self.fc(attended), [attended]
        if self.dnn is not None:
            dnn_logit, dnn_hidden = self.dnn.forward_hidden(embeddings.flatten(1))
            logit = logit + dnn_logit
            hidden.append(dnn_hidden)
        return logit.squeeze(-1), torch.cat(hidden, dim=1)
