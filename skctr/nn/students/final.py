"""FINAL: factorized interaction layers on a field-gated embedding (the KDEF FinalNet student)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..layers import xavier_init
from .base import StudentNetwork
from .registry import register_student

RESIDUAL_TYPES = ("concat", "sum")
GATE_INITS = ("default", "identity")
_ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}


def _activation(name: str | None) -> nn.Module | None:
    if name is None:
        return None
    try:
        return _ACTIVATIONS[name]()
    except (KeyError, TypeError):
        raise ValueError(f"activation must be None or one of {sorted(_ACTIVATIONS)}, got {name!r}.") from None


class FieldGate(nn.Module):
    """A gate mixing the fields: ``G[:, :, d] = W E[:, :, d] + b`` for every embedding dim ``d``.

    ``W`` is F x F and ``b`` has F entries (one ``nn.Linear(F, F)`` acting along
    the field axis). ``residual="concat"`` returns ``[E, E * G]`` (B, 2F, D);
    ``"sum"`` returns ``E + E * G`` (B, F, D). ``init="identity"`` sets W = 0
    and b = 1 so the output starts at ``[E, E]`` (or ``2E``); ``"default"``
    keeps xavier-normal W and zero b.
    """

    def __init__(self, num_fields: int, *, residual: str = "concat", init: str = "default"):
        super().__init__()
        if residual not in RESIDUAL_TYPES:
            raise ValueError(f"gate_residual must be one of {RESIDUAL_TYPES}, got {residual!r}.")
        if init not in GATE_INITS:
            raise ValueError(f"gate_init must be one of {GATE_INITS}, got {init!r}.")
        self.residual = residual
        self.linear = nn.Linear(num_fields, num_fields)
        xavier_init(self)
        if init == "identity":
            nn.init.zeros_(self.linear.weight)
            nn.init.ones_(self.linear.bias)

    @property
    def output_fields_factor(self) -> int:
        return 2 if self.residual == "concat" else 1

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        gates = self.linear(embeddings.transpose(1, 2)).transpose(1, 2)
        gated = embeddings * gates
        if self.residual == "concat":
            return torch.cat([embeddings, gated], dim=1)
        return embeddings + gated


class FactorizedInteraction(nn.Module):
    """``h = W x + b`` split into halves ``(h2, h1)`` (h2 first); ``[h2, h1 * h2]`` or ``h2 + h1 * h2``.

    ``residual="concat"``: W maps ``input_dim -> output_dim`` (even) and the
    output is ``[h2, h1 * h2]`` of width ``output_dim``, the parameters of one
    ``nn.Linear(input_dim, output_dim)``. ``residual="sum"``: W maps
    ``input_dim -> 2 * output_dim`` and the output is ``h2 + h1 * h2``.
    """

    def __init__(self, input_dim: int, output_dim: int, residual: str = "concat"):
        super().__init__()
        if residual not in RESIDUAL_TYPES:
            raise ValueError(f"residual must be one of {RESIDUAL_TYPES}, got {residual!r}.")
        self.residual = residual
        self.linear = nn.Linear(input_dim, output_dim if residual == "concat" else 2 * output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h2, h1 = self.linear(x).chunk(2, dim=-1)
        if self.residual == "concat":
            return torch.cat([h2, h1 * h2], dim=-1)
        return h2 + h1 * h2


class FinalBlock(nn.Module):
    """FactorizedInteraction -> [BatchNorm] -> [activation] -> [Dropout] per layer; returns the last hidden vector."""

    def __init__(
        self,
        input_dim: int,
        hidden_units: Sequence[int],
        *,
        residual: str = "concat",
        activation: str | None = "relu",
        dropout: float = 0.0,
        batch_norm: bool = True,
        name: str = "hidden_units",
    ):
        super().__init__()
        hidden_units = list(hidden_units)
        if residual == "concat":
            odd = [units for units in hidden_units if units % 2]
            if odd:
                raise ValueError(
                    f"{name} must be even with residual='concat' (each layer is split into two halves), got {hidden_units}."
                )
        layers: list[nn.Module] = []
        width = input_dim
        for units in hidden_units:
            layers.append(FactorizedInteraction(width, units, residual))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units))
            act = _activation(activation)
            if act is not None:
                layers.append(act)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = units
        self.output_dim = width
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@register_student("final")
class FinalStudent(StudentNetwork):
    """FINAL (FinalNet): stacked factorized interaction layers, optionally on a field gate, one or two blocks.

    Block 1 reads ``flatten(Gate(E))`` (or ``flatten(E)`` without the gate),
    applies per layer ``FactorizedInteraction -> [BN] -> [activation] ->
    [Dropout]`` and a ``Linear(h_L -> 1)``, giving ``z1``. With ``blocks=2``
    a second block of the same kind reads the raw ``flatten(E)`` (never gated)
    and gives ``z2``; the logit is ``0.5 * (z1 + z2)``.

    Parameters
    ----------
    num_fields, embedding_dim : int
        Shape of the field embedding it reads.
    hidden_units : sequence of int, default=(400, 400, 400)
        Widths of block 1's layers (even with ``residual="concat"``).
    dropout : float, default=0.1
        Dropout after each layer of block 1 (and of block 2 unless
        ``block2_dropout`` is given).
    batch_norm : bool, default=True
        Batch normalisation after each factorized interaction.
    activation : {"relu", "tanh", "sigmoid", "gelu", "leaky_relu"} or None, default="relu"
        Activation after each layer; None leaves only the multiplicative
        nonlinearity (FuxiCTR's template default).
    residual : {"concat", "sum"}, default="concat"
        ``"concat"``: ``Linear(in, out)`` split into ``(h2, h1)`` and output
        ``[h2, h1 * h2]``; ``"sum"``: ``Linear(in, 2 out)`` and output
        ``h2 + h1 * h2``.
    field_gate : bool, default=True
        Gate block 1's input with a learned F x F mixing of the fields.
    gate_init : {"default", "identity"}, default="default"
        ``"default"``: xavier-normal W, zero b (what KDEF's student and
        RecZoo's published FinalNet runs actually had); ``"identity"``:
        W = 0, b = 1, so the gate output starts at ``[E, E]`` (FuxiCTR
        model_zoo's intent).
    gate_residual : {"concat", "sum"}, default="concat"
        ``[E, E * G]`` (2F fields) or ``E + E * G`` (F fields).
    blocks : {1, 2}, default=1
        Number of blocks.
    block2_hidden_units : sequence of int, default=(400,)
        Widths of block 2's layers (only with ``blocks=2``).
    block2_dropout : float or None, default=None
        Dropout of block 2; None uses ``dropout``.

    Notes
    -----
    The defaults reproduce the FinalNet student of KDEF's heterogeneous
    ensemble EKTF_L (its reference code): one block,
    concat residual, field gate with concat output and the un-applied
    (xavier) gate init, [400]*3 with BN, ReLU and dropout 0.1 (the Criteo
    setting); with F=39, D=16 it has 824,761 parameters, as in the log.
    ``blocks=2`` is the FINAL 2B structure; its self-distillation loss
    (``BCE(sigma(z_k), sg(sigma(0.5 (z1 + z2))))`` for each block) is not part
    of this module: use :meth:`forward_blocks` to build it. Deviations: the
    FuxiCTR template defaults ([64]*3, no activation, 2 blocks, identity gate)
    are not the defaults here; block 2 shares block 1's residual type,
    activation and batch norm (the reference has separate settings per block).
    """

    def __init__(
        self,
        num_fields: int,
        embedding_dim: int,
        *,
        hidden_units: Sequence[int] = (400, 400, 400),
        dropout: float = 0.1,
        batch_norm: bool = True,
        activation: str | None = "relu",
        residual: str = "concat",
        field_gate: bool = True,
        gate_init: str = "default",
        gate_residual: str = "concat",
        blocks: int = 1,
        block2_hidden_units: Sequence[int] = (400,),
        block2_dropout: float | None = None,
    ):
        super().__init__()
        if blocks not in (1, 2):
            raise ValueError(f"blocks must be 1 or 2, got {blocks!r}.")
        if residual not in RESIDUAL_TYPES:
            raise ValueError(f"residual must be one of {RESIDUAL_TYPES}, got {residual!r}.")
        _activation(activation)  # validate the name early
        flat = num_fields * embedding_dim
        self.gate = FieldGate(num_fields, residual=gate_residual, init=gate_init) if field_gate else None
        input_dim = flat * (self.gate.output_fields_factor if self.gate is not None else 1)
        common = {"residual": residual, "activation": activation, "batch_norm": batch_norm}
        self.block1 = FinalBlock(input_dim, hidden_units, dropout=dropout, name="hidden_units", **common)
        self.fc1 = nn.Linear(self.block1.output_dim, 1)
        self.blocks = blocks
        if blocks == 2:
            self.block2 = FinalBlock(
                flat,
                block2_hidden_units,
                dropout=dropout if block2_dropout is None else block2_dropout,
                name="block2_hidden_units",
                **common,
            )
            self.fc2 = nn.Linear(self.block2.output_dim, 1)
        self.hidden_dim = self.block1.output_dim + (self.block2.output_dim if blocks == 2 else 0)
        for name, module in self.named_children():
            if name != "gate":  # the gate chose its own init
                xavier_init(module)

    def _blocks_hidden(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        gated = self.gate(embeddings) if self.gate is not None else embeddings
        hidden = (self.block1(gated.flatten(1)),)
        if self.blocks == 2:
            hidden += (self.block2(embeddings.flatten(1)),)
        return hidden

    def _block_logits(self, hidden) -> tuple[torch.Tensor, ...]:
        return tuple(fc(h).squeeze(-1) for fc, h in zip((self.fc1, getattr(self, "fc2", None)), hidden))

    def forward_blocks(self, embeddings: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The logit of each block, ``(z1,)`` or ``(z1, z2)``, each of shape (B,)."""
        return self._block_logits(self._blocks_hidden(embeddings))

    def forward_hidden(self, embeddings: torch.Tensor, sequences=None):
        hidden = self._blocks_hidden(embeddings)
        logits = self._block_logits(hidden)
        logit = logits[0] if len(logits) == 1 else 0.5 * (logits[0] + logits[1])
        return logit, torch.cat(hidden, dim=1)
