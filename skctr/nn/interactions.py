"""Explicit interactions between field slots, written once for every network that uses them."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PairwiseDotProduct(nn.Module):
    """``<x_i, x_j>`` for every pair of slots ``i < j``: (B, m, d) -> (B, m (m - 1) / 2).

    The pairs are in row-major upper-triangular order, ``(0, 1), (0, 2), ...,
    (m - 2, m - 1)``; the self products ``<x_i, x_i>`` are left out. It has no
    parameters.

    Parameters
    ----------
    num_slots : int
        Number of slots ``m`` of the input.
    """

    def __init__(self, num_slots: int):
        super().__init__()
        rows, cols = torch.triu_indices(num_slots, num_slots, offset=1)
        # Not persistent: they follow from num_slots, so checkpoints need not carry them.
        self.register_buffer("rows", rows, persistent=False)
        self.register_buffer("cols", cols, persistent=False)
        #: Number of pairs, the width of the output.
        self.output_dim = rows.numel()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # One batched Gram matrix then a gather: a single matmul instead of a loop over the pairs.
        gram = torch.bmm(x, x.transpose(1, 2))
        return gram[:, self.rows, self.cols]


class MultiHeadAttention(nn.Module):
    """Multi-head dot-product attention of queries over a context: ``softmax(Q K^T / s) V`` per head.

    Queries are projected from ``query`` (B, Tq, input_dim), keys and values
    from ``context`` (B, Tk, input_dim), each by a ``Linear(input_dim ->
    attention_dim)``. The width is split into ``num_heads`` contiguous chunks
    of ``head_dim = attention_dim // num_heads``; each head attends over the
    Tk context slots and the heads are concatenated back in order, giving
    (B, Tq, attention_dim). There is no output projection.

    Subclasses add what surrounds the attention (a residual, an output
    projection, rotary positions between :meth:`project` and :meth:`attend`).
    The projections keep PyTorch's initialisation: each network applies
    :func:`~skctr.nn.layers.xavier_init` where its seeded draw order wants it.

    Parameters
    ----------
    input_dim : int
        Width of the query and context slots.
    attention_dim : int
        Width of the projections (all heads together); a multiple of ``num_heads``.
    num_heads : int
        Number of heads.
    bias : bool, default=True
        Whether the query, key and value projections have a bias.
    use_scale : bool, default=True
        Divide the scores by ``sqrt(head_dim)`` (``s``); False leaves ``s = 1``.
    dropout : float, default=0.0
        Dropout on the attention weights, in training only.
    """

    def __init__(
        self,
        input_dim: int,
        attention_dim: int,
        num_heads: int,
        *,
        bias: bool = True,
        use_scale: bool = True,
        dropout: float = 0.0,
    ):
        super().__init__()
        if attention_dim % num_heads:
            raise ValueError(f"attention_dim={attention_dim} must be divisible by num_heads={num_heads}.")
        self.num_heads = num_heads
        self.head_dim = attention_dim // num_heads
        # The multiplier scaled_dot_product_attention takes: None is its default 1 / sqrt(head_dim).
        self.scale = None if use_scale else 1.0
        self.dropout = dropout
        self.W_q = nn.Linear(input_dim, attention_dim, bias=bias)
        self.W_k = nn.Linear(input_dim, attention_dim, bias=bias)
        self.W_v = nn.Linear(input_dim, attention_dim, bias=bias)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, attention_dim) -> (B, num_heads, T, head_dim), head ``h`` the ``h``-th contiguous chunk."""
        batch, slots, _ = x.shape
        return x.reshape(batch, slots, self.num_heads, self.head_dim).transpose(1, 2)

    def project(self, query: torch.Tensor, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The per-head queries, keys and values, each (B, num_heads, T, head_dim)."""
        heads = self.split_heads
        return heads(self.W_q(query)), heads(self.W_k(context)), heads(self.W_v(context))

    def attend(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The heads' attention outputs concatenated, (B, Tq, attention_dim).

        ``key_mask`` (B, Tk) bool is True on the keys a query may see; every
        query row must see at least one.
        """
        mask = None if key_mask is None else key_mask[:, None, None, :]
        # PyTorch's fused kernel (flash or memory-efficient where the device has one) rather than an explicit softmax.
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, scale=self.scale
        )
        return out.transpose(1, 2).flatten(2)

    def forward(
        self, query: torch.Tensor, context: torch.Tensor, key_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.attend(*self.project(query, context), key_mask)
