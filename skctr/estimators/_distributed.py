"""Row-sparse tables in data-parallel training: what DistributedDataParallel does not do for them.

DDP all-reduces dense gradients only (and sparse ones of ``nn.Embedding``
modules); our tables are plain parameters with sparse gradients, so they are
left out of DDP and reduced here: every process gathers the batch rows of all
processes for the embedding penalty (so each row's penalty clock moves as in
one process), and the tables' sparse gradients are averaged after backward.
"""
from __future__ import annotations

import torch
import torch.distributed as dist
from skorch.callbacks import Callback

from ..nn import FieldEmbedding

#: A FieldEmbedding's penalty clocks: equal in every process by construction, so DDP need not broadcast them
#: (4 bytes a row, every step).
CLOCKS = ("last_penalised", "penalty_step")


def gathered(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` of every process, concatenated along dim 0 in rank order (the first dims may differ)."""
    world = dist.get_world_size()
    size = torch.tensor([tensor.shape[0]], device=tensor.device)
    sizes = [torch.empty_like(size) for _ in range(world)]
    dist.all_gather(sizes, size)
    longest = int(max(sizes))
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat([part[: int(n)] for part, n in zip(parts, sizes)])  # in rank order on every process


def averaged(grad: torch.Tensor) -> torch.Tensor:
    """The mean over processes of a gradient, sparse or dense, as DDP averages dense ones."""
    if not grad.is_sparse:
        dist.all_reduce(grad)
        return grad / dist.get_world_size()
    grad = grad.coalesce()
    indices = gathered(grad.indices().t()).t()
    total = torch.sparse_coo_tensor(indices, gathered(grad.values()), grad.shape).coalesce()
    return total / dist.get_world_size()


def leave_tables_to_us(module: torch.nn.Module, sparse: bool) -> None:
    """Mark what DDP must leave alone in ``module``, before wrapping it: every FieldEmbedding's clocks, and its
    table when the table is sparse."""
    names = CLOCKS + (("weight",) if sparse else ())
    qualified = [
        f"{prefix}.{name}" if prefix else name
        for prefix, sub in module.named_modules() if isinstance(sub, FieldEmbedding) for name in names
    ]
    DDP = torch.nn.parallel.DistributedDataParallel
    # torch's only hook for this, renamed in 2.x ("_for_ddp" became "_for_model").
    ignore = getattr(DDP, "_set_params_and_buffers_to_ignore_for_model", None) or DDP._set_params_and_buffers_to_ignore_for_ddp
    ignore(module, qualified)


class SparseGradientAverage(Callback):
    """Averages the row-sparse tables' gradients over the data-parallel processes, before clipping."""

    def on_grad_computed(self, net, named_parameters=None, **kwargs):
        for module in net.network.modules():
            if isinstance(module, FieldEmbedding) and module.weight.grad is not None:
                module.weight.grad = averaged(module.weight.grad)
