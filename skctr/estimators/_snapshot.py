"""A copy of a module's weights that early stopping can restore: in memory when small, on disk when large.

A model with a table of tens of millions of rows cannot afford a second copy
of it in RAM for the best epoch's weights, so beyond ``SPILL_BYTES`` the copy
goes to an anonymous temporary file (in ``TMPDIR``, removed when closed) and
is read back straight into the parameters, without a second full copy.
"""
from __future__ import annotations

import tempfile

import torch

SPILL_BYTES = 256 * 2**20


def _bytes_of(tensor: torch.Tensor) -> torch.Tensor:
    """The tensor's elements as a flat uint8 CPU tensor (a view when it is already contiguous on the CPU)."""
    return tensor.detach().cpu().reshape(-1).view(torch.uint8)


def _layout(state: dict) -> dict:
    return {key: (tensor.shape, tensor.dtype) for key, tensor in state.items()}


class WeightSnapshot:
    """The weights and buffers of ``module`` as they are now."""

    def __init__(self, module: torch.nn.Module):
        state = module.state_dict()
        self._shapes = _layout(state)
        size = sum(tensor.numel() * tensor.element_size() for tensor in state.values())
        self._file = tempfile.TemporaryFile(prefix="skctr-best-weights-") if size > SPILL_BYTES else None
        if self._file is None:
            self._tensors = {key: tensor.detach().clone() for key, tensor in state.items()}
            return
        for tensor in state.values():
            self._file.write(_bytes_of(tensor).numpy().data)
        self._file.flush()

    def restore(self, module: torch.nn.Module) -> None:
        """Write the copied values back into ``module``, which must have the same state keys and shapes."""
        state = module.state_dict()
        if _layout(state) != self._shapes:
            raise RuntimeError("The module's parameters changed shape since the snapshot; it cannot be restored.")
        if self._file is None:
            module.load_state_dict(self._tensors)
            return
        self._file.seek(0)
        with torch.no_grad():
            for tensor in state.values():
                self._read_into(tensor)

    def _read_into(self, tensor: torch.Tensor) -> None:
        in_place = tensor.device.type == "cpu" and tensor.is_contiguous()
        target = _bytes_of(tensor) if in_place else torch.empty(tensor.numel() * tensor.element_size(), dtype=torch.uint8)
        if self._file.readinto(target.numpy().data) != target.numel():
            raise RuntimeError("The temporary file of the best weights is shorter than the weights; it was changed.")
        if not in_place:
            tensor.copy_(target.view(tensor.dtype).reshape(tensor.shape))

    def close(self) -> None:
        """Free the copy (and delete its file)."""
        if self._file is not None:
            self._file.close()
        self._tensors = self._file = None
