"""TF4CTR: twin focus framework (the TF4CTR paper; docs/algorithms.md, "TF4CTR").

A sample selection embedding module (SSEM) feeds a simple and a complex
encoder; the twin focus loss trains the simple branch towards easy samples and
the complex branch towards hard ones; a dynamic fusion module (DFM) combines
the two into the prediction. Forward returns ``(fused logit (B,), branch
logits (B, 2))`` with the simple branch first.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..fields import FieldSpec
from .embedding import FieldEmbedding
from .layers import MLPBlock, xavier_init
from .selection import SELECTIONS, make_selector, selected_inputs
from .students import create_student, explicit_spec
from .weighting import bce_with_logits, weighted_mean

SSEM_MODES = ("ser", "gate", "moe", "share")
FUSION_MODES = ("wsf", "vote", "concat", "moe", "sum")


def check_twin_focus_params(alpha: float, c: float, gamma: float) -> None:
    """Reject settings where a modulating factor could turn negative or the weighting is meaningless.

    The complex branch's factor is ``(2 - c - p_t) ** gamma``: for ``c > 1`` its
    base goes negative for confident samples (the reference code's c = 1.2 runs
    did this silently), so ``c`` must lie in [0, 1].
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    if not 0.0 <= c <= 1.0:
        raise ValueError(
            f"c must be in [0, 1], got {c!r}: with c > 1 the complex branch's factor (2 - c - p_t)**gamma "
            "has a negative base for confident samples."
        )
    if not gamma >= 0.0:
        raise ValueError(f"gamma must be non-negative, got {gamma!r}.")


def twin_focus_loss(simple_logit, complex_logit, y, *, alpha: float = 0.25, c: float = 0.8, gamma: float = 2.0,
                    sample_weight=None):
    """The twin focus loss ``alpha * L_easy + (1 - alpha) * L_hard`` (TF4CTR eq. 7).

    With ``p_t = y p + (1 - y)(1 - p)`` (the focal convention, so both classes count):
    ``L_easy = mean[(c + p_t(p_s)) ** gamma * BCE(p_s, y)]`` up-weights samples the
    simple branch already gets right; ``L_hard = mean[((2 - c) - p_t(p_c)) ** gamma *
    BCE(p_c, y)]`` up-weights samples the complex branch gets wrong (``c = 1`` is
    the focal loss). The factors are not detached, as in focal loss and the reference. With
    ``sample_weight`` both means are weighted means over the samples.
    """
    y = y.to(simple_logit.dtype).reshape(-1)

    def p_t(logit):
        p = torch.sigmoid(logit)
        return y * p + (1 - y) * (1 - p)

    easy = weighted_mean((c + p_t(simple_logit)) ** gamma * F.binary_cross_entropy_with_logits(simple_logit, y, reduction="none"),
                         sample_weight)
    hard = weighted_mean(((2 - c) - p_t(complex_logit)) ** gamma * F.binary_cross_entropy_with_logits(complex_logit, y, reduction="none"),
                         sample_weight)
    return alpha * easy + (1 - alpha) * hard


class TF4CTR(nn.Module):
    """The TF4CTR network with MLP encoders.

    Parameters
    ----------
    field_spec : FieldSpec
    embedding_dim : int
        Width D of the complex branch's embedding (and of the shared one).
    ssem : {"ser", "gate", "moe", "share"}, default="ser"
        ``"ser"``: two tables, the simple branch's of width ``D // 2``;
        ``"gate"``: one table, a scalar gate g per sample, ``x_s = e*g``,
        ``x_c = e*(1-g)``; ``"moe"``: one table, two experts and two gates;
        ``"share"``: one table read by both branches.
    fusion : {"wsf", "vote", "concat", "moe", "sum"}, default="wsf"
        ``"wsf"``: learnable weights (starting at 0.5, 0.5) on the branch
        logits; ``"vote"``: Gumbel-softmax voting with temperature ``tau`` in
        training and the noise-free softmax at inference (deterministic
        predictions, unlike the reference); ``"concat"``: a linear head on both
        hidden vectors; ``"moe"``: a softmax-gated mixture of two linear heads;
        ``"sum"``: the sum of the branch logits.
    simple_hidden_units, complex_hidden_units : sequence of int
        MLP encoder widths; defaults (400, 400) and (400, 400, 400).
    simple_encoder, complex_encoder : str, (str, dict) or None, default=None
        A registry network (e.g. ``"deepfm"``, ``"wide_deep"``, ``"xdeepfm"``)
        instead of the MLP encoder. It reads the branch's field embedding and
        gives the branch logit itself; the hidden-vector fusions read its
        ``forward_hidden`` vector. A network that reads behaviour sequences
        gets the unpooled sequences of the table its branch reads (under
        ``"gate"``/``"moe"`` the selection acts on the pooled fields only).
    dropout, batch_norm
        Of every MLP.
    alpha, c, gamma : float
        Twin focus loss settings, see :func:`twin_focus_loss`.
    tau : float, default=0.8
        Temperature of the voting fusion.
    """

    def __init__(
        self,
        field_spec: FieldSpec,
        embedding_dim: int,
        *,
        ssem: str = "ser",
        fusion: str = "wsf",
        simple_hidden_units: Sequence[int] = (400, 400),
        complex_hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.2,
        batch_norm: bool = True,
        alpha: float = 0.25,
        c: float = 0.8,
        gamma: float = 2.0,
        tau: float = 0.8,
        simple_encoder=None,
        complex_encoder=None,
    ):
        super().__init__()
        if ssem not in SSEM_MODES:
            raise ValueError(f"ssem must be one of {SSEM_MODES}, got {ssem!r}.")
        if fusion not in FUSION_MODES:
            raise ValueError(f"fusion must be one of {FUSION_MODES}, got {fusion!r}.")
        if ssem == "ser" and embedding_dim < 2:
            raise ValueError("ssem='ser' needs embedding_dim >= 2 (the simple table has embedding_dim // 2).")
        check_twin_focus_params(alpha, c, gamma)
        if not tau > 0:
            raise ValueError(f"tau must be positive, got {tau!r}.")
        self.ssem, self.fusion = ssem, fusion
        self.mlp_params = {"dropout": dropout, "batch_norm": batch_norm}
        self.hidden_units = (tuple(simple_hidden_units), tuple(complex_hidden_units))
        self.alpha, self.c, self.gamma, self.tau = alpha, c, gamma, tau
        width = len(field_spec) * embedding_dim
        mlp = self.mlp_params
        self.embedding = FieldEmbedding(field_spec, embedding_dim)
        simple_width = width
        if ssem == "ser":
            self.simple_embedding = FieldEmbedding(field_spec, embedding_dim // 2)
            simple_width = len(field_spec) * (embedding_dim // 2)
        elif ssem in SELECTIONS:
            self.selector = make_selector(ssem, width, 2, **mlp)  # the simple branch reads input 0
        self.num_fields = len(field_spec)
        self.simple_encoder, self.simple_head = self._branch(simple_encoder, simple_width, simple_hidden_units, mlp)
        self.complex_encoder, self.complex_head = self._branch(complex_encoder, width, complex_hidden_units, mlp)
        a, b = self.simple_encoder.hidden_dim, self.complex_encoder.hidden_dim
        if fusion == "wsf":
            self.fusion_weights = nn.Parameter(torch.full((2,), 0.5))
        elif fusion == "vote":
            self.simple_vote, self.complex_vote = nn.Linear(a, 1), nn.Linear(b, 1)
        elif fusion == "concat":
            self.fusion_head = nn.Linear(a + b, 1)
        elif fusion == "moe":
            self.fusion_gate, self.fusion_experts = nn.Linear(a + b, 2), nn.Linear(a + b, 2)
        registry_encoders = [name for name, head in (("simple_encoder", self.simple_head), ("complex_encoder", self.complex_head)) if head is None]
        for name, module in self.named_children():
            # Embeddings keep their N(0, 1e-4) start; registry encoders chose their own initialisation.
            if name not in ("embedding", "simple_embedding", *registry_encoders):
                xavier_init(module)

    def _branch(self, spec, width, hidden_units, mlp):
        """An MLP encoder with a linear head, or a registry network that gives the logit itself (no head)."""
        if spec is None:
            encoder = MLPBlock(width, hidden_units, **mlp)
            return encoder, nn.Linear(encoder.output_dim, 1)
        layout = self.embedding.sequence_layout
        return create_student(spec, self.num_fields, width // self.num_fields, mlp, layout), None

    def _branch_output(self, encoder, head, x, sequences):
        """``(logit, hidden)`` of a branch from its flat input."""
        if head is None:
            return encoder.forward_hidden(x.view(x.shape[0], self.num_fields, -1), sequences)
        hidden = encoder(x)
        return head(hidden).squeeze(-1), hidden

    def branch_inputs(self, ids, values):
        """The flat inputs of the simple and complex branches, and the sequences each branch's table gives."""
        e, sequences = self.embedding(ids, values, return_sequences=True)
        e = e.flatten(1)
        if self.ssem == "ser":
            e_s, simple_sequences = self.simple_embedding(ids, values, return_sequences=True)
            return (e_s.flatten(1), e), (simple_sequences, sequences)
        if self.ssem in SELECTIONS:
            return tuple(selected_inputs(self.selector, e)), (sequences, sequences)
        return (e, e), (sequences, sequences)

    def forward(self, ids: torch.Tensor, values: torch.Tensor):
        (x_s, x_c), (seq_s, seq_c) = self.branch_inputs(ids, values)
        z_s, h_s = self._branch_output(self.simple_encoder, self.simple_head, x_s, seq_s)
        z_c, h_c = self._branch_output(self.complex_encoder, self.complex_head, x_c, seq_c)
        z = torch.stack([z_s, z_c], dim=1)  # (B, 2)
        if self.fusion == "wsf":
            fused = z @ self.fusion_weights
        elif self.fusion == "vote":
            votes = torch.cat([self.simple_vote(h_s), self.complex_vote(h_c)], dim=1)
            weights = F.gumbel_softmax(votes, tau=self.tau) if self.training else torch.softmax(votes / self.tau, dim=1)
            fused = (weights * z).sum(1)
        elif self.fusion == "concat":
            fused = self.fusion_head(torch.cat([h_s, h_c], dim=1)).squeeze(-1)
        elif self.fusion == "moe":
            h = torch.cat([h_s, h_c], dim=1)
            fused = (torch.softmax(self.fusion_gate(h), dim=1) * self.fusion_experts(h)).sum(1)
        else:
            fused = z.sum(1)
        return fused, z

    def branch_as_student(self, index: int) -> tuple[FieldEmbedding, nn.Module]:
        """Branch ``index`` (0 simple, 1 complex) alone: the table it reads and a registry network with its weights.

        Under ``ssem`` "ser" or "share" the network is the branch's encoder
        (an ``"mlp"`` student holding the MLP encoder and its head, or the
        registry encoder itself); under "gate" or "moe" it also carries the
        branch's share of the selection module (the internal
        ``"tf4ctr_branch"`` network). It computes the branch's logit exactly.
        """
        if index not in (0, 1):
            raise IndexError(f"index must be 0 (simple) or 1 (complex), got {index}.")
        encoder, head = (self.simple_encoder, self.simple_head) if index == 0 else (self.complex_encoder, self.complex_head)
        embedding = self.simple_embedding if (index == 0 and self.ssem == "ser") else self.embedding
        network = encoder if head is None else self._mlp_student(encoder, head, self.hidden_units[index])
        if self.ssem not in SELECTIONS:
            return embedding, network
        branch = create_student(
            ("tf4ctr_branch", {"selection": self.ssem, "branch": ("simple", "complex")[index],
                               "hidden_units": self.hidden_units[index], **self.mlp_params,
                               "encoder": None if head is not None else explicit_spec(encoder)}),
            self.num_fields, embedding.embedding_dim,
        )
        branch.encoder.load_state_dict(network.state_dict())
        if self.ssem == "gate":
            branch.selector.load_state_dict(self.selector.state_dict())
        else:  # the branch keeps both experts and its own gate
            branch.selector.experts.load_state_dict(self.selector.experts.state_dict())
            branch.selector.gates[0].load_state_dict(self.selector.gates[index].state_dict())
        return embedding, branch

    def _mlp_student(self, encoder: MLPBlock, head: nn.Linear, hidden_units) -> nn.Module:
        """An ``"mlp"`` student equal to an MLP encoder followed by its linear head."""
        student = create_student(("mlp", {"hidden_units": hidden_units, **self.mlp_params}), self.num_fields,
                                 encoder.input_dim // self.num_fields)
        student.mlp.layers[:-1].load_state_dict(encoder.layers.state_dict())
        student.mlp.layers[-1].load_state_dict(head.state_dict())
        return student

    def loss(self, output, y: torch.Tensor, sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        fused, z = output
        bce = bce_with_logits(fused, y.reshape(-1), sample_weight)
        return bce + twin_focus_loss(z[:, 0], z[:, 1], y, alpha=self.alpha, c=self.c, gamma=self.gamma,
                                     sample_weight=sample_weight)
