"""Where training runs: the device an estimator's ``device`` names, and this process's data-parallel shard."""
from __future__ import annotations

import os

import torch


def data_parallel_shard() -> tuple[int, int]:
    """``(rank, world_size)`` of an initialised torch.distributed process group; ``(0, 1)`` without one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def check_device_available(device) -> None:
    """A ValueError naming ``device`` when torch cannot run on it here (no CUDA, or no GPU of that index)."""
    if device == "auto":
        return
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={str(device)!r} but torch finds no CUDA device here (torch.cuda.is_available() is False); "
                "pass device='auto' (CUDA when present, CPU otherwise) or device='cpu'."
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={str(device)!r} but only {torch.cuda.device_count()} CUDA device(s) are visible; "
                "pass an index below that, or device='auto'."
            )
    elif device.type not in ("cpu", "meta") and not _backend_available(device.type):
        raise ValueError(f"device={str(device)!r}: torch has no {device.type} backend here; pass device='auto' or 'cpu'.")


def _backend_available(kind: str) -> bool:
    backend = getattr(torch, kind, None) or getattr(torch.backends, kind, None)
    return bool(backend is not None and getattr(backend, "is_available", lambda: False)())


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
