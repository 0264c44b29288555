"""The deep and hierarchical ensemble network (DHEN): stacked layers of heterogeneous interaction modules."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..interactions import PairwiseDotProduct
from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .dcnv2 import CrossNetV2
from .registry import register_student

MODULES = ("dot", "self_attention", "linear", "dcn")


class SlotProjection(nn.Module):
    """``X W`` over the slot axis: (B, m, d) -> (B, l, d) with ``W`` of shape (m, l), no bias."""

    def __init__(self, in_slots: int, out_slots: int):
        super().__init__()
        self.linear = nn.Linear(in_slots, out_slots, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.transpose(1, 2)).transpose(1, 2)


class DotInteraction(nn.Module):
    """DOT / AdvancedDLRM module: the ``m (m - 1) / 2`` pairwise dot products ``<x_i, x_j>`` (i < j)
    go through an MLP (one ReLU layer of width ``l d``) and a Linear to ``l d``, reshaped to (l, d)."""

    def __init__(self, in_slots: int, out_slots: int, embedding_dim: int):
        super().__init__()
        if in_slots < 2:
            raise ValueError(f"The 'dot' module needs at least 2 slots to pair, got {in_slots}.")
        self.dots = PairwiseDotProduct(in_slots)
        width = out_slots * embedding_dim
        self.mlp = MLPBlock(self.dots.output_dim, (width,), width)
        self.out_shape = (out_slots, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.dots(x)).reshape(x.shape[0], *self.out_shape)


class SelfAttentionInteraction(nn.Module):
    """One ``TransformerEncoderLayer`` over the m tokens (post-norm, ReLU, feed-forward ``4 d``),
    then a :class:`SlotProjection` m -> l."""

    def __init__(self, in_slots: int, out_slots: int, embedding_dim: int, *, num_heads: int, dropout: float):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(
            embedding_dim, num_heads, dim_feedforward=4 * embedding_dim, dropout=dropout, batch_first=True
        )
        self.project = SlotProjection(in_slots, out_slots)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.encoder(x))


class DCNInteraction(nn.Module):
    """Full-rank cross layers (:class:`~skctr.nn.students.dcnv2.CrossNetV2`) on ``flatten(X)``,
    then a Linear ``m d -> l d`` reshaped to (l, d)."""

    def __init__(self, in_slots: int, out_slots: int, embedding_dim: int, *, cross_layers: int):
        super().__init__()
        width = in_slots * embedding_dim
        self.crossnet = CrossNetV2(width, cross_layers)
        self.project = nn.Linear(width, out_slots * embedding_dim)
        self.out_shape = (out_slots, embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(self.crossnet(x.flatten(1))).reshape(x.shape[0], *self.out_shape)


class DHENLayer(nn.Module):
    """``X' = LayerNorm(concat_slots(module_1(X), ..., module_k(X)) + ShortCut(X))``.

    ``ShortCut`` is the identity when the concatenation has as many slots as
    ``X``, else a :class:`SlotProjection`. The LayerNorm normalises each
    slot over its d features.
    """

    def __init__(
        self,
        in_slots: int,
        embedding_dim: int,
        module_names: Sequence[str],
        out_slots: int,
        *,
        num_heads: int,
        cross_layers: int,
        dropout: float,
    ):
        super().__init__()

        def build(name):
            if name == "dot":
                return DotInteraction(in_slots, out_slots, embedding_dim)
            if name == "self_attention":
                return SelfAttentionInteraction(in_slots, out_slots, embedding_dim, num_heads=num_heads,
                                                dropout=dropout)
            if name == "linear":
                return SlotProjection(in_slots, out_slots)
            return DCNInteraction(in_slots, out_slots, embedding_dim, cross_layers=cross_layers)

        self.interactions = nn.ModuleList(build(name) for name in module_names)
        self.output_slots = out_slots * len(module_names)
        self.shortcut = nn.Identity() if self.output_slots == in_slots else SlotProjection(in_slots, self.output_slots)
        self.norm = nn.LayerNorm(embedding_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ensemble = torch.cat([module(x) for module in self.interactions], dim=1)
        return self.norm(ensemble + self.shortcut(x))


@register_student("dhen")
class DHENStudent(StudentNetwork):
    """DHEN: ``num_layers`` layers, each an ensemble of interaction modules with a shortcut, then an MLP.

    ``X_0 = E`` (B, m = num_fields, d = embedding_dim). Every layer applies
    each module of ``modules`` to ``X_n``, each giving (B, l, d) with
    ``l = output_slots``, concatenates them along the slot axis and adds the
    shortcut::

        X_{n+1} = LayerNorm(concat_i Interaction_i(X_n) + ShortCut(X_n))

    where ``ShortCut`` is the identity when the slot counts match and a
    linear map over the slot axis (no bias) otherwise, and the LayerNorm acts
    on each slot's d features. ``logit = MLP(flatten(X_N))``.

    The modules, each (B, m, d) -> (B, l, d):

    * ``"dot"``: pairwise dot products ``<x_i, x_j>`` (i < j) -> MLP (one
      ReLU hidden layer of width ``l d``) -> Linear to ``l d``, reshaped.
    * ``"self_attention"``: a ``torch.nn.TransformerEncoderLayer`` over the m
      tokens (``num_heads`` heads, feed-forward width ``4 d``, post-norm,
      ``dropout``), then ``X W`` with ``W`` of shape (m, l).
    * ``"linear"``: ``X W`` with ``W`` of shape (m, l), over the slot axis.
    * ``"dcn"``: ``cross_layers`` full-rank DCNv2 cross layers
      ``x_{i+1} = x_0 * (W_i x_i + b_i) + x_i`` on ``x_0 = flatten(X)``, then
      a Linear to ``l d``, reshaped.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads (m and d).
    modules : sequence of str, default=("dot", "dcn")
        The interaction modules of every layer, among ``"dot"``,
        ``"self_attention"``, ``"linear"`` and ``"dcn"`` (a module may be
        repeated). The default is the DOT + DCN setting of the InterFormer
        and CETNet experiments.
    num_layers : int, default=2
        Number of DHEN layers (the InterFormer paper searches 1 to 3).
    output_slots : int or None, default=None
        Slots ``l`` produced by each module; None uses ``num_fields``. Every
        layer then has ``len(modules) * l`` slots, so the width stops growing
        after the first layer (the first layer's shortcut is a projection
        unless ``len(modules) * l == num_fields``; the later ones are
        identities).
    hidden_units : sequence of int, default=(400, 400)
        Hidden widths of the head MLP on ``flatten(X_N)`` (ReLU).
    dropout : float, default=0.0
        Dropout after each hidden layer of the head, and inside the
        self-attention modules.
    batch_norm : bool, default=False
        Batch normalisation before each head activation.
    num_heads : int, default=1
        Attention heads of the self-attention modules; must divide ``embedding_dim``.
    cross_layers : int, default=2
        Cross layers of each DCN module.

    Notes
    -----
    DHEN (Zhang et al., arXiv 2203.11014) has no public implementation; this
    follows the paper's description. Where the description is ambiguous:

    * **DCN module.** The transcription gives ``u = W (X X^T) + b``, whose
      shapes do not compose and whose ``X X^T`` is the Gram matrix the DOT
      module already uses; the same source also describes L cross layers on
      ``flatten(X)`` projected to ``l d``. The second reading is taken: it is
      what DCN means everywhere else (the DCNv2 paper, FuxiCTR, the ``dcnv2``
      student, whose :class:`CrossNetV2` is reused), its shapes are
      unambiguous, and it makes the InterFormer DOT + DCN pairing combine two
      different interaction orders rather than two Gram readings. DCN's own
      ``x_0``-level residual on the module output is dropped (the module
      returns the projection of ``x_L``), as the layer adds its shortcut;
      the per-layer ``+ x_i`` of the cross formula is kept.
    * **DOT module.** The MLP between the dot products and ``W_m`` is
      unspecified; one ReLU layer of width ``l d`` is used, and the
      self-interactions ``<x_i, x_i>`` are left out (DLRM's default).
    * **Ensemble.** Concatenation along the slot axis (the usual choice;
      sum and weighted sum are not offered).
    * **Output slots.** Not given; ``l = num_fields`` per module by default
      (see ``output_slots``). With 39 fields and d = 16 the default
      network has about 8.8 million parameters (the second layer's DOT and
      DCN modules read 78 slots); pass a smaller ``output_slots`` for wide
      inputs.
    * **LayerNorm.** Over each slot's d features (the transformer convention),
      with affine parameters.
    * **Self-attention.** The encoder layer's feed-forward width is ``4 d``
      (PyTorch's 2048 default would dwarf a CTR embedding).

    Linear layers are xavier-normal with zero biases; the attention's input
    projection keeps PyTorch's initialisation. ``hidden`` (see
    :meth:`forward_hidden`) is the head's last hidden vector
    (``flatten(X_N)`` when ``hidden_units`` is empty).
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        modules: Sequence[str] = ("dot", "dcn"),
        num_layers: int = 2,
        output_slots: int | None = None,
        hidden_units: Sequence[int] = (400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
        num_heads: int = 1,
        cross_layers: int = 2,
    ):
        super().__init__()
        module_names = (modules,) if isinstance(modules, str) else tuple(modules)
        unknown = [name for name in module_names if name not in MODULES]
        if not module_names or unknown:
            raise ValueError(f"modules must be a non-empty sequence of names among {MODULES}, got {modules!r}.")
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}.")
        out_slots = num_fields if output_slots is None else output_slots
        if out_slots < 1:
            raise ValueError(f"output_slots must be at least 1, got {output_slots}.")
        if "self_attention" in module_names and (num_heads < 1 or embedding_dim % num_heads):
            raise ValueError(f"num_heads={num_heads} must divide embedding_dim={embedding_dim}.")
        if "dcn" in module_names and cross_layers < 1:
            raise ValueError(f"cross_layers must be at least 1, got {cross_layers}.")
        #: The module names of every layer (not ``self.modules``, which is nn.Module's method).
        self.module_names = module_names
        layers, slots = [], num_fields
        for _ in range(num_layers):
            layer = DHENLayer(slots, embedding_dim, module_names, out_slots, num_heads=num_heads,
                              cross_layers=cross_layers, dropout=dropout)
            layers.append(layer)
            slots = layer.output_slots
        self.layers = nn.ModuleList(layers)
        self.output_slots = slots
        self.head = MLPBlock(slots * embedding_dim, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
        xavier_init(self)
        self.hidden_dim = self.head.hidden_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None) -> tuple[torch.Tensor, torch.Tensor]:
        x = embeddings
        for layer in self.layers:
            x = layer(x)
        logit, hidden = self.head.forward_hidden(x.flatten(1))
        return logit.squeeze(-1), hidden
