"""InterFormer: interleaved non-sequence / sequence learning with bidirectional information flow."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..embedding import SequenceEmbedding
from ..interactions import MultiHeadAttention, PairwiseDotProduct
from ..layers import MLPBlock, xavier_init
from .base import StudentNetwork
from .dcnv2 import CrossNetV2
from .registry import register_student

ROPE_BASE = 10000.0


def rotate(x: torch.Tensor, positions: torch.Tensor, base: float = ROPE_BASE) -> torch.Tensor:
    """Rotary position embedding of ``x`` (..., T, h) at integer ``positions`` (T,); ``h`` must be even.

    The feature axis is split into halves ``(x1, x2)``; pair ``i`` is rotated by the
    angle ``p * base ** (-2 i / h)``: ``(x1 cos - x2 sin, x1 sin + x2 cos)``. Position 0
    is the identity, and ``<rotate(q, p), rotate(k, r)>`` depends on ``p - r`` only.
    """
    half = x.shape[-1] // 2
    inv_freq = base ** (-torch.arange(half, device=x.device, dtype=torch.float32) / half)
    angles = positions.to(torch.float32).unsqueeze(-1) * inv_freq  # (T, half)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    x1, x2 = x[..., :half], x[..., half:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def most_recent(items: torch.Tensor, mask: torch.Tensor, k: int, newest_first: bool = True) -> torch.Tensor:
    """The ``k`` most recent valid tokens of ``items`` (B, L, d), newest first; zeros where a history is shorter.

    With ``newest_first`` the most recent tokens are the first valid ones, otherwise
    the last valid ones. Holes (padding between real items) are skipped.
    """
    valid = mask.to(torch.long)
    if newest_first:
        rank = valid.cumsum(1) - 1
    else:
        rank = valid.flip(1).cumsum(1).flip(1) - 1
    slots = torch.arange(k, device=items.device)
    pick = (rank.unsqueeze(1) == slots.view(1, k, 1)) & mask.unsqueeze(1)  # (B, k, L)
    return torch.bmm(pick.to(items.dtype), items)


class RotaryAttention(MultiHeadAttention):
    """Scaled dot-product attention with ``num_heads`` heads, a key padding mask, optional RoPE and an output Linear.

    ``forward(query (B, Tq, d), context (B, Tk, d), key_mask (B, Tk) bool, positions=None)``;
    ``positions = (query_positions (Tq,), key_positions (Tk,))`` rotates queries and keys.
    Every query row must see at least one True key. The projections have biases.
    """

    def __init__(self, dim: int, num_heads: int):
        super().__init__(dim, dim, num_heads)
        self.W_o = nn.Linear(dim, dim)
        xavier_init(self)

    def forward(self, query, context, key_mask, positions=None):
        q, k, v = self.project(query, context)
        if positions is not None:
            # Per head, between the projection and the scores: RoPE acts on the query-key products only.
            q, k = rotate(q, positions[0]), rotate(k, positions[1])
        return self.W_o(self.attend(q, k, v, key_mask))


class Gating(nn.Module):
    """``Gating(T) = T * sigmoid(MLP(flatten(T)))`` over ``num_tokens`` tokens of width ``dim``.

    The MLP is ``Linear(m d, m d) -> ReLU -> Linear(m d, m d)``, so the gate of every
    element sees all the tokens being summarised.
    """

    def __init__(self, num_tokens: int, dim: int):
        super().__init__()
        width = num_tokens * dim
        self.mlp = MLPBlock(width, (width,), width)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens * torch.sigmoid(self.mlp(tokens.flatten(1))).view_as(tokens)


class CrossArch(nn.Module):
    """The summaries of one layer: ``X_sum = Gating(LCE(X))`` and ``S_sum = Gating([S_CLS | S_PMA | S_recent])``."""

    def __init__(self, num_tokens, dim, num_heads, num_cls, num_pma, num_recent, newest_first):
        super().__init__()
        self.num_cls, self.num_recent, self.newest_first = num_cls, num_recent, newest_first
        self.lce = nn.Linear(num_tokens, num_cls)  # over the slot axis: n -> n_sum
        xavier_init(self.lce)
        self.x_gate = Gating(num_cls, dim)
        if num_pma:
            self.pma_queries = nn.Parameter(torch.empty(num_pma, dim))
            nn.init.xavier_normal_(self.pma_queries)
            self.pma = RotaryAttention(dim, num_heads)
        else:
            self.pma_queries, self.pma = None, None
        self.s_gate = Gating(num_cls + num_pma + num_recent, dim)

    def summarize_x(self, x: torch.Tensor) -> torch.Tensor:
        return self.x_gate(self.lce(x.transpose(1, 2)).transpose(1, 2))

    def summarize_s(self, s: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        parts = [s[:, : self.num_cls]]
        if self.pma is not None:
            queries = self.pma_queries.unsqueeze(0).expand(s.shape[0], -1, -1)
            parts.append(self.pma(queries, s, mask))
        if self.num_recent:
            parts.append(most_recent(s[:, self.num_cls:], mask[:, self.num_cls:], self.num_recent, self.newest_first))
        return self.s_gate(torch.cat(parts, dim=1))


class InteractionArch(nn.Module):
    """``X' = LayerNorm(X + reshape(MLP([CrossNetV2(flatten(T)) | triu(T T^T)]), (n, d)))`` with ``T = [X | S_sum]``."""

    def __init__(self, num_tokens, num_summary, dim, num_cross_layers):
        super().__init__()
        total = num_tokens + num_summary
        self.num_tokens, self.dim = num_tokens, dim
        self.cross = CrossNetV2(total * dim, num_cross_layers) if num_cross_layers else None
        self.dots = PairwiseDotProduct(total)
        width = num_tokens * dim
        in_dim = self.dots.output_dim + (total * dim if self.cross is not None else 0)
        self.mlp = MLPBlock(in_dim, (width,), width)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, s_sum: torch.Tensor) -> torch.Tensor:
        tokens = torch.cat([x, s_sum], dim=1)
        dots = self.dots(tokens)
        parts = [dots] if self.cross is None else [self.cross(tokens.flatten(1)), dots]
        update = self.mlp(torch.cat(parts, dim=1)).view(-1, self.num_tokens, self.dim)
        return self.norm(x + update)


class SequenceArch(nn.Module):
    """``S' = LayerNorm(S + MHA_RoPE(PFFN(X_sum, S)))``, ``PFFN(X_sum, S) = S W(X_sum)``, ``W`` (d, d) per sample."""

    def __init__(self, num_summary, dim, num_heads):
        super().__init__()
        self.dim = dim
        self.pffn = nn.Linear(num_summary * dim, dim * dim)
        xavier_init(self.pffn)
        self.attention = RotaryAttention(dim, num_heads)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x_sum, s, mask, positions):
        weight = self.pffn(x_sum.flatten(1)).view(-1, self.dim, self.dim)
        projected = torch.bmm(s, weight)
        out = self.norm(s + self.attention(projected, projected, mask, (positions, positions)))
        return out * mask.unsqueeze(-1).to(out.dtype)


@register_student("interformer")
class InterFormerStudent(StudentNetwork):
    """InterFormer (Zeng et al., arXiv 2411.09852): a non-sequence and a sequence arch exchanging summaries.

    Non-sequence tokens ``X`` (B, n, d) are the field embeddings other than the
    sequence fields; the behaviour sequences are merged into one token sequence
    ``S`` (B, L, d). Each of ``num_layers`` layers runs

    * Cross arch: ``X_sum = Gating(LCE(X))`` (``n -> n_sum`` tokens, ``n_sum =
      num_cls_tokens``) and ``S_sum = Gating([S_CLS | S_PMA | S_recent])``,
      with ``Gating(T) = T * sigmoid(MLP(T))``; at the first layer ``X_sum`` is
      prepended to ``S`` as its CLS tokens;
    * Interaction arch: ``X <- LayerNorm(X + MLP(Interaction([X | S_sum])))``,
      ``Interaction`` = a DCNv2 cross on the flattened tokens and the pairwise
      dot products of the tokens (DHEN's DCN + DOT modules);
    * Sequence arch: ``S <- LayerNorm(S + MHA(PFFN(X_sum, S)))``, a masked
      self-attention with rotary position embeddings after the personalised
      projection ``S W`` where ``W`` (d, d) is generated from ``X_sum``.

    The logit is ``MLP([flatten(X_sum) | flatten(S_sum)])`` with the summaries
    of the final states.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads; ``embedding_dim`` is the token width ``d``.
    sequence_layout : tuple of SequenceSlot
        Where each behaviour sequence sits in the field embedding (at least one).
    num_layers : int, default=2
        Number of interleaved layers.
    num_heads : int, default=2
        Heads of the self-attention and of the PMA; ``embedding_dim / num_heads``
        must be an even integer (RoPE rotates pairs of features).
    num_cls_tokens : int, default=4
        CLS tokens of the sequence, which is also ``n_sum``, the number of
        non-sequence summary tokens ``X_sum`` (they are the CLS tokens at layer 1).
    num_pma_tokens : int, default=2
        Learnable queries of the pooling-by-attention summary ``S_PMA`` (0 disables it).
    num_recent_tokens : int, default=2
        Most recent valid items in ``S_recent`` (0 disables it).
    num_cross_layers : int, default=1
        Cross layers of the interaction's DCNv2 part; 0 keeps the dot products only.
    newest_first : bool, default=True
        Histories are stored newest first (position 0 is the most recent
        item), the layout of this project's encoded data; False reads the last
        valid items as the most recent.
    keep_pooled_sequences : bool, default=False
        Also keep the sequence fields' pooled embeddings among the non-sequence tokens.
    hidden_units : sequence of int, default=(400, 400)
        Hidden widths of the classifier MLP.
    dropout : float, default=0.0
        Dropout after each hidden layer of the classifier MLP.
    batch_norm : bool, default=False
        Batch normalisation before each activation of the classifier MLP.

    Notes
    -----
    No official code exists; this is a reading of the paper (Zeng et al., 2024).
    Each ambiguity and the choice made:

    * **Non-sequence tokens.** Every non-sequence field embedding is one token
      (a numeric field is already a d-dim token ``x w_f``, so the paper's single
      ``W_dense`` token over the concatenated dense features is not used). The
      pooled slots of the sequence fields are dropped, since the sequence arch
      represents them; ``keep_pooled_sequences=True`` keeps them. A layout
      where no token remains is rejected.
    * **Merging k sequences.** With several sequences they are padded (zeros,
      masked) to the longest ``max_len`` and position ``t`` of each is taken as
      the same time step (for newest-first histories: the t-th most recent
      item); ``S = Linear(C * MLP_mask(C))`` on their concatenation ``C`` (B, L,
      k d), ``MLP_mask`` = ``Linear(kd, kd) -> ReLU -> Linear(kd, kd)``
      (MaskNet's instance-guided mask); a step is valid where any sequence is.
      With one sequence the merge is skipped and ``S`` is its embedding.
    * **Padding.** Padded positions are zeroed at the input and after every
      layer and are masked out as keys of every attention, and never
      selected as recent items, so they do not influence the output. The CLS
      tokens are always valid keys, so an all-padding history (a new user)
      attends to the CLS tokens only and yields no NaN; its ``S_recent`` is zeros.
    * **Recent tokens.** "The last K valid tokens" of the paper means the most
      recent ones; the FieldEncoder pads at the end and keeps the first
      ``max_len`` items, and this project stores histories newest first, so
      they are the first K valid items (``newest_first=True``), in recency
      order. Shorter histories give zero tokens for the missing ones.
    * **n_sum vs CLS.** ``X_sum`` becomes the CLS tokens, so ``n_sum =
      num_cls_tokens`` (no extra projection). ``S_CLS`` at later layers is the
      first ``num_cls_tokens`` positions of the evolving ``S``.
    * **Gating.** Transcribed as ``sigmoid(X * MLP(X))``; read as ``X *
      sigmoid(MLP(X))`` (the recommended reading), the MLP acting on the
      flattened tokens being summarised (one hidden layer as wide as its input).
    * **LCE.** A Linear over the slot axis (``n -> n_sum``) with a bias per
      output slot.
    * **PMA.** Multi-head attention of ``num_pma_tokens`` learnable queries over
      all of ``S`` (CLS tokens included) with the key padding mask; no RoPE.
    * **Interaction backbone.** The paper uses DHEN (DOT + DCN). Here one light
      DHEN-like block: the concatenation of a ``CrossNetV2`` on the flattened
      ``[X | S_sum]`` and the pairwise dot products of its tokens, an MLP
      (``Linear -> ReLU -> Linear``, hidden width ``n d``) reshaped to (n, d).
      DHEN's shortcut and LayerNorm give the residual ``LayerNorm(X + .)``,
      which the paper's formula leaves out.
    * **PFFN.** ``W = reshape(Linear(flatten(X_sum)), (d, d))``, applied to every
      token of ``S`` (CLS included) as ``S W``.
    * **Sequence attention.** Queries and keys are rotated (RoPE, base 10000,
      per-head half-split pairs); item ``t`` has position ``t`` (0..L-1), the
      CLS tokens position 0 (no rotation). Residual and norm are not specified:
      one post-norm residual ``LayerNorm(S + MHA(PFFN(X_sum, S)))``.
    * **Output summaries.** ``[X_sum^(L) | S_sum^(L)]`` is read as the
      summaries of the states after the last layer, so there are
      ``num_layers + 1`` cross arches and every layer's output is used.
    * **Activation and regularisation.** The paper uses Swish; ReLU is kept
      everywhere for consistency with :class:`~skctr.nn.layers.MLPBlock`.
      ``dropout`` and ``batch_norm`` apply to the classifier MLP only.
    """

    reads_sequences = True

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        sequence_layout: tuple,
        *,
        num_layers: int = 2,
        num_heads: int = 2,
        num_cls_tokens: int = 4,
        num_pma_tokens: int = 2,
        num_recent_tokens: int = 2,
        num_cross_layers: int = 1,
        newest_first: bool = True,
        keep_pooled_sequences: bool = False,
        hidden_units: Sequence[int] = (400, 400),
        dropout: float = 0.0,
        batch_norm: bool = False,
    ):
        super().__init__()
        layout = tuple(sequence_layout)
        if not layout:
            raise ValueError(
                "InterFormer needs at least one behaviour-sequence field; the field spec has none "
                "(add a Field(kind='sequence') or choose a student that does not read sequences)."
            )
        seq_fields = [slot.field_index for slot in layout]
        if len(set(seq_fields)) != len(seq_fields) or not all(0 <= i < num_fields for i in seq_fields):
            raise ValueError(
                f"sequence_layout field indices must be distinct and in [0, {num_fields}), got {seq_fields}."
            )
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}.")
        if num_heads < 1 or embedding_dim % num_heads:
            raise ValueError(f"embedding_dim ({embedding_dim}) must be a multiple of num_heads ({num_heads}).")
        if (embedding_dim // num_heads) % 2:
            raise ValueError(
                f"RoPE needs an even dimension per head, got embedding_dim / num_heads = "
                f"{embedding_dim} / {num_heads} = {embedding_dim // num_heads}."
            )
        if num_cls_tokens < 1:
            raise ValueError(f"num_cls_tokens must be at least 1, got {num_cls_tokens}.")
        if num_pma_tokens < 0 or num_recent_tokens < 0 or num_cross_layers < 0:
            raise ValueError("num_pma_tokens, num_recent_tokens and num_cross_layers must be non-negative.")
        tokens = [i for i in range(num_fields) if keep_pooled_sequences or i not in seq_fields]
        if not tokens:
            raise ValueError(
                "InterFormer needs at least one non-sequence token: every field is a sequence; "
                "set keep_pooled_sequences=True to use their pooled embeddings."
            )
        self.sequence_layout = layout
        self.num_cls_tokens = num_cls_tokens
        self.register_buffer("token_index", torch.tensor(tokens, dtype=torch.long), persistent=False)
        d, n, k = embedding_dim, len(tokens), len(layout)
        if k > 1:
            self.merge_mask = MLPBlock(k * d, (k * d,), k * d)
            self.merge = nn.Linear(k * d, d)
            xavier_init(self.merge)
        else:
            self.merge_mask, self.merge = None, None
        summary = num_cls_tokens + num_pma_tokens + num_recent_tokens
        self.cross_archs = nn.ModuleList(
            CrossArch(n, d, num_heads, num_cls_tokens, num_pma_tokens, num_recent_tokens, newest_first)
            for _ in range(num_layers + 1)
        )
        self.interaction_archs = nn.ModuleList(
            InteractionArch(n, summary, d, num_cross_layers) for _ in range(num_layers)
        )
        self.sequence_archs = nn.ModuleList(SequenceArch(num_cls_tokens, d, num_heads) for _ in range(num_layers))
        self.mlp = MLPBlock((num_cls_tokens + summary) * d, hidden_units, 1, dropout=dropout, batch_norm=batch_norm)
        self.hidden_dim = self.mlp.hidden_dim

    def merge_sequences(self, sequences: Sequence[SequenceEmbedding]) -> tuple[torch.Tensor, torch.Tensor]:
        """One token sequence (B, L, d) and its mask (B, L) from the k sequences (padding zeroed)."""
        length = max(seq.embeddings.shape[1] for seq in sequences)
        items, masks = [], []
        for seq in sequences:
            pad = length - seq.embeddings.shape[1]
            mask = F.pad(seq.mask.bool(), (0, pad), value=False)
            items.append(F.pad(seq.embeddings, (0, 0, 0, pad)) * mask.unsqueeze(-1).to(seq.embeddings.dtype))
            masks.append(mask)
        mask = torch.stack(masks).any(0)
        if self.merge is None:
            return items[0], mask
        concat = torch.cat(items, dim=-1)
        merged = self.merge(concat * self.merge_mask(concat))
        return merged * mask.unsqueeze(-1).to(merged.dtype), mask

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        if sequences is None or len(sequences) != len(self.sequence_layout):
            got = "none" if sequences is None else len(sequences)
            raise ValueError(
                f"InterFormer reads {len(self.sequence_layout)} behaviour sequence(s), got {got}; "
                "call the field embedding with return_sequences=True."
            )
        x = embeddings.index_select(1, self.token_index)
        items, item_mask = self.merge_sequences(sequences)
        B, L, _ = items.shape
        x_sum = self.cross_archs[0].summarize_x(x)
        s = torch.cat([x_sum, items], dim=1)
        mask = torch.cat([item_mask.new_ones(B, self.num_cls_tokens), item_mask], dim=1)
        positions = torch.cat([
            torch.zeros(self.num_cls_tokens, dtype=torch.long, device=items.device),
            torch.arange(L, device=items.device),
        ])
        for layer, (interaction, sequence) in enumerate(zip(self.interaction_archs, self.sequence_archs)):
            if layer:
                x_sum = self.cross_archs[layer].summarize_x(x)
            s_sum = self.cross_archs[layer].summarize_s(s, mask)
            x, s = interaction(x, s_sum), sequence(x_sum, s, mask, positions)
        x_sum = self.cross_archs[-1].summarize_x(x)
        s_sum = self.cross_archs[-1].summarize_s(s, mask)
        logit, hidden = self.mlp.forward_hidden(torch.cat([x_sum.flatten(1), s_sum.flatten(1)], dim=1))
        return logit.squeeze(-1), hidden
