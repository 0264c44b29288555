"""Where training runs: the device an estimator's ``device`` names, and this process's data-parallel shard."""
from __future__ import annotations

import os

import torch


def data_parallel_shard() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised torch.distributed process group; ``(0, 1)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def resolve_device(device) -> str:
    """``"auto"`` becomes ``"cuda"`` when a GPU is visible, else ``"cpu"``.

    In data-parallel training each process takes its own GPU: torchrun's
    ``LOCAL_RANK`` (or the rank) modulo the visible GPUs.
    """
    if device == "auto":
        if not torch.cuda.is_available():
            return "cpu"
        rank, world_size = data_parallel_shard()
        if world_size > 1:
            # Fewer GPUs than processes (a test, or a small model): processes share them round-robin.
            return f"cuda:{int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count()}"
        return "cuda"
    return str(device)
