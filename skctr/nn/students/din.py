"""The deep interest network (DIN): target attention over behaviour sequences, then a DNN."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..layers import MLPBlock, xavier_init
from ..embedding import SequenceSlot
from .base import StudentNetwork
from .registry import register_student

ATTENTION_ACTIVATIONS = ("dice", "relu")


class Dice(nn.Module):
    """The data-adaptive activation of DIN: ``p = sigmoid(BN(x))``, ``out = p x + alpha (1 - p) x``.

    ``BN`` is a batch normalisation without affine parameters (eps 1e-9,
    momentum 0.01 in PyTorch's convention) and ``alpha`` one learned slope per
    feature, initialised to 0. Reads (..., num_features): the leading axes are
    flattened into the batch axis of the normalisation, so (B * L, H) and
    (B, L, H) inputs give the same result.

    A training batch of fewer than two rows, where batch statistics are
    undefined, is normalised with the running statistics instead (and does not
    update them); an empty batch returns an empty tensor.
    """

    def __init__(self, num_features: int, *, eps: float = 1e-9, momentum: float = 0.01):
        super().__init__()
        self.bn = nn.BatchNorm1d(num_features, affine=False, eps=eps, momentum=momentum)
        self.alpha = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, x.shape[-1])
        if self.training and flat.shape[0] < 2:
            normed = F.batch_norm(flat, self.bn.running_mean, self.bn.running_var, training=False, eps=self.bn.eps)
        else:
            normed = self.bn(flat)
        p = torch.sigmoid(normed).reshape(x.shape)
        return x * (p + self.alpha * (1.0 - p))


class TargetAttention(nn.Module):
    """DIN's local activation unit: one score per history item, then a weighted sum.

    The score of item ``s_l`` against the target ``t`` is
    ``MLP([t, s_l, t - s_l, t * s_l])`` (4D -> ``hidden_units`` -> 1, ``Dice``
    or ReLU after each hidden layer, no output activation). Padding items get
    weight 0; with ``use_softmax`` the real items' scores are softmax-normalised
    (a history without any real item then gets all-zero weights, not NaN). The
    output is ``sum_l a_l s_l`` (B, D); an all-padding history gives zeros.

    The MLP only runs on the real items, so the padding rows never enter the
    computation (nor Dice's batch statistics).
    """

    def __init__(
        self,
        embedding_dim: int,
        hidden_units: Sequence[int] = (64,),
        *,
        activation: str = "dice",
        dropout: float = 0.0,
        use_softmax: bool = False,
    ):
        super().__init__()
        activation = activation.lower()
        if activation not in ATTENTION_ACTIVATIONS:
            raise ValueError(f"attention_activation must be one of {ATTENTION_ACTIVATIONS}, got {activation!r}.")
        layers: list[nn.Module] = []
        width = 4 * embedding_dim
        for units in hidden_units:
            layers.append(nn.Linear(width, units))
            layers.append(Dice(units) if activation == "dice" else nn.ReLU())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        layers.append(nn.Linear(width, 1))
        self.mlp = nn.Sequential(*layers)
        self.use_softmax = use_softmax
        xavier_init(self.mlp)

    def weights(self, target: torch.Tensor, history: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention weights (B, L) of the ``history`` (B, L, D) items against ``target`` (B, D); 0 on padding."""
        mask = mask.bool()
        targets = target.unsqueeze(1).expand_as(history)
        if self.training:
            # Only the real items: padding must not enter Dice's batch statistics.
            items, targets = history[mask], targets[mask]  # (N, D), the real items in row-major order
            features = torch.cat([targets, items, targets - items, targets * items], dim=-1)
            real_scores = self.mlp(features).squeeze(-1)
            scores = real_scores.new_zeros(mask.shape).masked_scatter(mask, real_scores)
        else:
            # In evaluation every layer is row-wise, so scoring the padding too and zeroing it gives the same
            # scores with static shapes, which graph export (ONNX, torch.export) needs.
            features = torch.cat([targets, history, targets - history, targets * history], dim=-1)
            scores = self.mlp(features).squeeze(-1).masked_fill(~mask, 0.0)
        if self.use_softmax:
            # The most negative finite value rather than -inf: an all-padding row gives uniform weights
            # (finite, zeroed by the mask below) instead of NaN.
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min).softmax(dim=-1) * mask
        return scores

    def forward(self, target: torch.Tensor, history: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        weights = self.weights(target, history, mask)
        history = history.masked_fill(~mask.bool().unsqueeze(-1), 0.0)
        return torch.bmm(weights.unsqueeze(1), history).squeeze(1)


@register_student("din")
class DINStudent(StudentNetwork):
    """Deep interest network: target attention pools each behaviour sequence, then a DNN reads every field.

    For every sequence slot with a ``target_index`` (a history sharing the
    vocabulary of a categorical field, the candidate item), a
    :class:`TargetAttention` scores each history item ``s_l`` against the
    target embedding ``t = E[:, target_index]`` and the pooled
    ``sum_l a_l s_l`` replaces the sequence field's slot ``E[:, field_index]``
    (its mean pool). Sequences without a target keep their mean pool. Then
    ``logit = MLP(flatten(E'))``.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    sequence_layout : tuple of SequenceSlot
        Where the behaviour sequences sit (``FieldEmbedding.sequence_layout``).
        At least one slot needs a ``target_index``.
    hidden_units : sequence of int, default=(500, 500, 500)
        Hidden layer widths of the DNN (ReLU).
    dropout : float, default=0.0
        Dropout after each hidden layer of the DNN.
    batch_norm : bool, default=False
        Batch normalisation before each DNN activation.
    attention_hidden_units : sequence of int, default=(64,)
        Hidden widths of the attention MLP (4D -> ... -> 1).
    attention_activation : {"dice", "relu"}, default="dice"
        Activation of the attention MLP's hidden layers.
    attention_dropout : float, default=0.0
        Dropout after each hidden layer of the attention MLP.
    use_softmax : bool, default=False
        Softmax-normalise the scores over the real items of each history;
        the default keeps DIN's unnormalised scores.

    Raises
    ------
    ValueError
        If no sequence slot has a target.

    Notes
    -----
    Follows FuxiCTR's ``DIN`` / ``DIN_Attention``
    with its default configuration: DNN [500]*3 with ReLU, no dropout, no BN;
    attention MLP [64] with Dice (BN without affine, eps 1e-9, momentum 0.01,
    ``alpha`` = 0 at start), no output activation; unnormalised scores. Linear
    layers are xavier-normal with zero biases.

    Deviations, all about padding: FuxiCTR scores every position and lets the
    padding rows (zero embeddings there) into Dice's batch statistics. Here a
    padding row is a learned row of the shared table, so the attention MLP
    runs on the real items only: padding never affects the output, in
    training or in evaluation (in evaluation, where Dice uses its running
    statistics, the real items' scores are the same as FuxiCTR's). With
    ``use_softmax`` an all-padding history (a new user) pools to zeros, as
    in FuxiCTR and as the mean pool of an empty sequence, rather than NaN.

    ``hidden`` (see :meth:`forward_hidden`) is the last DNN hidden vector
    (``flatten(E')`` when ``hidden_units`` is empty).
    """

    reads_sequences = True

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        sequence_layout: Sequence[SequenceSlot] = (),
        *,
        hidden_units: Sequence[int] = (500, 500, 500),
        dropout: float = 0.0,
        batch_norm: bool = False,
        attention_hidden_units: Sequence[int] = (64,),
        attention_activation: str = "dice",
        attention_dropout: float = 0.0,
        use_softmax: bool = False,
    ):
        super().__init__()
        layout = tuple(SequenceSlot(*slot) for slot in sequence_layout)
        for slot in layout:
            indices = [slot.field_index] + ([] if slot.target_index is None else [slot.target_index])
            if any(not 0 <= i < num_fields for i in indices):
                raise ValueError(f"Sequence slot {slot} points outside the {num_fields} fields.")
            if slot.target_index == slot.field_index:
                raise ValueError(f"Sequence slot {slot} is its own target.")
        self.sequence_layout = layout
        #: Positions (in ``sequence_layout``) of the slots that get target attention.
        self.attended = tuple(i for i, slot in enumerate(layout) if slot.target_index is not None)
        if not self.attended:
            raise ValueError(
                "DIN needs a behaviour-sequence field with a target (the categorical field whose vocabulary "
                "it shares, e.g. FieldEncoder(sequence={'history': {'target': 'item_id'}})); got the sequence "
                f"layout {layout}."
            )
        self.attentions = nn.ModuleList(
            TargetAttention(
                embedding_dim,
                attention_hidden_units,
                activation=attention_activation,
                dropout=attention_dropout,
                use_softmax=use_softmax,
            )
            for _ in self.attended
        )
        self.register_buffer(
            "_pooled_fields",
            torch.tensor([layout[i].field_index for i in self.attended], dtype=torch.long),
            persistent=False,
        )
        self.dnn = MLPBlock(num_fields * embedding_dim, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
        self.hidden_dim = self.dnn.hidden_dim

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None) -> tuple[torch.Tensor, torch.Tensor]:
        if sequences is None or len(sequences) != len(self.sequence_layout):
            got = "none" if sequences is None else len(sequences)
            raise ValueError(
                f"DIN reads the unpooled behaviour sequences: expected {len(self.sequence_layout)} "
                f"SequenceEmbedding(s) (FieldEmbedding(..., return_sequences=True)), got {got}."
            )
        pooled = []
        for attention, i in zip(self.attentions, self.attended):
            history, mask = sequences[i]
            target = embeddings[:, self.sequence_layout[i].target_index]
            pooled.append(attention(target, history, mask))
        fields = embeddings.index_copy(1, self._pooled_fields, torch.stack(pooled, dim=1).to(embeddings.dtype))
        logit, hidden = self.dnn.forward_hidden(fields.flatten(1))
        return logit.squeeze(-1), hidden
