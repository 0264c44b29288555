"""CETNet: collaborative ensemble training (the CETNet paper §3; docs/algorithms.md, "CETNet").

N component networks, each on its own field embedding table (multi-embedding),
produce a hidden vector and a logit. A confidence-based fusion weighs each
component's hidden vector by a softmax over its negative prediction entropy
and a linear readout gives the prediction. Training minimises the BCE of the
fused prediction, the BCE of every component and a symmetric KL term that
pulls the components' predictions together. Forward returns
``(fused logit (B,), component logits (B, N))``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fields import FieldSpec
from .embedding import FieldEmbedding
from .layers import xavier_init
from .students import create_student
from .weighting import bce_with_logits, weighted_mean, weighted_sum

CETNET_FUSIONS = ("confidence", "concat", "sum", "mean")


def negative_entropy(logits: torch.Tensor) -> torch.Tensor:
    """``p log p + (1 - p) log(1 - p)`` of ``p = sigmoid(logits)``, in [-ln 2, 0], computed from logits without clamping."""
    p = torch.sigmoid(logits)
    return p * F.logsigmoid(logits) + (1 - p) * F.logsigmoid(-logits)


def confidence_weights(logits: torch.Tensor, temperature: float = 1.0, detach: bool = True) -> torch.Tensor:
    """Fusion weights (B, N): softmax over components of their confidence ``-H(p_k) / temperature``."""
    confidence = negative_entropy(logits.detach() if detach else logits)
    return torch.softmax(confidence / temperature, dim=1)


def symmetric_kl(logits: torch.Tensor, reduction: str = "mean", sample_weight: torch.Tensor | None = None) -> torch.Tensor:
    """``sum_{k<j} (KL(p_k || p_j) + KL(p_j || p_k)) / 2`` for Bernoulli ``p = sigmoid(logits)``, reduced over the batch.

    ``reduction="sum"`` is the paper's literal L_kl (a sum over samples);
    ``"mean"`` divides it by the batch size, the scale of the BCE terms.
    ``sample_weight`` weights the samples of either reduction.

    For Bernoulli distributions the two directions add up to
    ``(p_k - p_j)(z_k - z_j)`` (the log-odds difference), which is what is
    computed: exact, and finite for any logits. Neither side is detached, so
    each component is pulled towards the other (mutual refinement).
    """
    n = logits.shape[1]
    if n < 2:
        return logits.new_zeros(())
    p = torch.sigmoid(logits)
    rows, cols = torch.triu_indices(n, n, offset=1, device=logits.device)
    pair_terms = (p[:, rows] - p[:, cols]) * (logits[:, rows] - logits[:, cols])
    per_sample = 0.5 * pair_terms.sum(dim=1)
    return weighted_sum(per_sample, sample_weight) if reduction == "sum" else weighted_mean(per_sample, sample_weight)


def cetnet_loss(
    fused_logit: torch.Tensor, component_logits: torch.Tensor, y: torch.Tensor, kl_weight: float = 0.1,
    kl_reduction: str = "mean", sample_weight: torch.Tensor | None = None,
) -> torch.Tensor:
    """``BCE(fused) + sum_k BCE(component k) + kl_weight * symmetric_kl(components, kl_reduction)`` (BCE: batch
    means, weighted by ``sample_weight`` when given)."""
    y = y.to(fused_logit.dtype).reshape(-1)
    fused = bce_with_logits(fused_logit, y, sample_weight)
    components = component_logits.shape[1] * bce_with_logits(
        component_logits, y.unsqueeze(1).expand_as(component_logits), sample_weight)
    return fused + components + kl_weight * symmetric_kl(component_logits, kl_reduction, sample_weight)


class CETNet(nn.Module):
    """The CETNet network.

    Parameters
    ----------
    field_spec : FieldSpec
    embedding_dim : int
        Width of every component's embedding table.
    components : sequence of str or (str, dict)
        Registry networks, optionally with parameters; at least one.
    shared_params : mapping, optional
        ``hidden_units``/``dropout``/``batch_norm`` for the components that
        accept them, under their own parameters.
    fusion : {"confidence", "concat", "sum", "mean"}, default="confidence"
        ``"confidence"``: concatenation of the hidden vectors scaled by the
        confidence weights; ``"concat"``: plain concatenation; ``"sum"`` and
        ``"mean"``: of hidden vectors of equal width. A linear readout follows.
    temperature : float, default=1.0
        Of the softmax over confidences (the paper's "general softmax"; 1 in its equations).
    stop_gradient : bool, default=True
        Detach the confidences, as the paper does; False lets the fusion
        weights' gradient reach the components (the paper's ablation).
    kl_weight : float, default=0.1
        Weight of the symmetric KL term.
    kl_reduction : {"mean", "sum"}, default="mean"
        How the KL term is reduced over the batch: ``"sum"`` as the paper
        writes it, ``"mean"`` on the scale of the BCE terms.
    shared_embedding : bool, default=False
        One table read by every component (the single-embedding ablation).
    """

    def __init__(
        self,
        field_spec: FieldSpec,
        embedding_dim: int,
        components: Sequence,
        *,
        shared_params: Mapping | None = None,
        fusion: str = "confidence",
        temperature: float = 1.0,
        stop_gradient: bool = True,
        kl_weight: float = 0.1,
        kl_reduction: str = "mean",
        shared_embedding: bool = False,
    ):
        super().__init__()
        if fusion not in CETNET_FUSIONS:
            raise ValueError(f"fusion must be one of {CETNET_FUSIONS}, got {fusion!r}.")
        if not components:
            raise ValueError("components must name at least one network.")
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}.")
        if not kl_weight >= 0:
            raise ValueError(f"kl_weight must be non-negative, got {kl_weight!r}.")
        if kl_reduction not in ("mean", "sum"):
            raise ValueError(f"kl_reduction must be 'mean' or 'sum', got {kl_reduction!r}.")
        n_tables = 1 if shared_embedding else len(components)
        self.embeddings = nn.ModuleList(FieldEmbedding(field_spec, embedding_dim) for _ in range(n_tables))
        layout = self.embeddings[0].sequence_layout
        self.components = nn.ModuleList(
            create_student(spec, len(field_spec), embedding_dim, shared_params, layout) for spec in components
        )
        widths = [c.hidden_dim for c in self.components]
        if fusion in ("sum", "mean") and len(set(widths)) > 1:
            names = [f"{c.registry_name}: {w}" for c, w in zip(self.components, widths)]
            raise ValueError(
                f"fusion={fusion!r} adds the components' hidden vectors, which needs equal widths; got {names}. "
                "Use fusion='confidence' or 'concat', or give the components equal last hidden widths."
            )
        self.fusion, self.temperature, self.stop_gradient = fusion, temperature, stop_gradient
        self.kl_weight, self.kl_reduction, self.shared_embedding = kl_weight, kl_reduction, shared_embedding
        self.readout = nn.Linear(sum(widths) if fusion in ("confidence", "concat") else widths[0], 1)
        xavier_init(self.readout)

    def embedding_of(self, index: int) -> FieldEmbedding:
        """The table component ``index`` reads."""
        return self.embeddings[0 if self.shared_embedding else index]

    def component_outputs(self, ids: torch.Tensor, values: torch.Tensor):
        """Every component's ``(logit (B,), hidden (B, hidden_dim))``."""
        embedded = [table(ids, values, return_sequences=True) for table in self.embeddings]
        return [
            component.forward_hidden(*embedded[0 if self.shared_embedding else k])
            for k, component in enumerate(self.components)
        ]

    def fusion_weights(self, component_logits: torch.Tensor) -> torch.Tensor:
        """Per-sample confidence weights (B, N); they sum to one over components."""
        return confidence_weights(component_logits, self.temperature, detach=self.stop_gradient)

    def forward(self, ids: torch.Tensor, values: torch.Tensor):
        outputs = self.component_outputs(ids, values)
        logits = torch.stack([logit for logit, _ in outputs], dim=1)
        hidden = [h for _, h in outputs]
        if self.fusion == "confidence":
            weights = self.fusion_weights(logits)
            fused = torch.cat([weights[:, k : k + 1] * h for k, h in enumerate(hidden)], dim=1)
        elif self.fusion == "concat":
            fused = torch.cat(hidden, dim=1)
        else:
            fused = torch.stack(hidden, dim=0).sum(0)
            if self.fusion == "mean":
                fused = fused / len(hidden)
        return self.readout(fused).squeeze(-1), logits

    def loss(self, output, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        return cetnet_loss(output[0], output[1], y, self.kl_weight, self.kl_reduction, sample_weight)
