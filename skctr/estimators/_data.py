"""The fast data path: encoded arrays become tensors once; batches are index slices."""
from __future__ import annotations

import numpy as np
import torch

from ..fields import FieldSpec

# Whole data sets up to this size are moved to a CUDA device once instead of batch by batch.
_DEVICE_RESIDENT_BYTES = 2 * 1024**3


class FieldTensors(torch.utils.data.Dataset):
    """Encoded rows as tensors: ``ids`` (int64), ``values`` (float32), labels ``y`` and sample weights ``w``
    (None: every row weighs 1)."""

    def __init__(self, ids: torch.Tensor, values: torch.Tensor, y: torch.Tensor | None = None,
                 w: torch.Tensor | None = None):
        self.ids, self.values, self.y, self.w = ids, values, y, w

    def weight_array(self) -> np.ndarray | None:
        return None if self.w is None else self.w.numpy()

    @classmethod
    def from_array(cls, array, field_spec: FieldSpec, y=None, w=None) -> "FieldTensors":
        """Split an encoded array by field kind, checking indices against the vocabularies."""
        ids, values = field_spec.split_columns(array)
        finite = np.isfinite(values)
        if not finite.all():
            numeric = [f.name for f in field_spec if not f.is_indexed]
            rows, columns = np.nonzero(~finite)
            bad = sorted({numeric[j] for j in columns})
            raise ValueError(
                f"Encoded numeric field(s) {bad} hold NaN or infinity (first at row {int(rows[0])}, field "
                f"{numeric[columns[0]]!r}); the networks need finite values: encode the raw columns with FieldEncoder, "
                "which maps missing values to 0, or replace them."
            )
        if ids.size:
            limits = np.concatenate([[f.vocab_size] * f.max_len for f in field_spec if f.is_indexed])
            bad_columns = (ids.min(axis=0) < 0) | (ids.max(axis=0) >= limits)
            if bad_columns.any():
                names = np.concatenate([[f.name] * f.max_len for f in field_spec if f.is_indexed])
                raise ValueError(
                    f"Encoded field(s) {sorted(set(names[bad_columns]))} hold indices outside their vocabulary; "
                    "the array was not produced by the FieldEncoder this model was fitted with."
                )
        y_tensor = None if y is None else torch.as_tensor(np.asarray(y, dtype=np.float32))
        w_tensor = None if w is None else torch.as_tensor(np.asarray(w, dtype=np.float32))
        return cls(torch.from_numpy(ids), torch.from_numpy(values), y_tensor, w_tensor)

    def __len__(self) -> int:
        return self.ids.shape[0]

    def take(self, index: torch.Tensor) -> "FieldTensors":
        """The rows at ``index``, as a new FieldTensors."""
        return FieldTensors(self.ids[index], self.values[index], _rows(self.y, index), _rows(self.w, index))

    def __getitem__(self, index):
        X = {"ids": self.ids[index], "values": self.values[index]}
        if self.w is not None:
            X["sample_weight"] = self.w[index]
        return X, (self.y[index] if self.y is not None else torch.zeros(()))

    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in (self.ids, self.values, self.y, self.w) if t is not None)


def _rows(tensor, index):
    return None if tensor is None else tensor[index]


class BatchIterator:
    """Yields ``({"ids", "values"}, y)`` batches by slicing tensors, shuffled with ``generator`` when asked.

    On CUDA a data set that fits is copied to the device once; otherwise each
    batch is gathered into pinned memory and copied without blocking.

    With ``shard=(rank, world_size)`` (data-parallel training) every process
    draws the same permutation and keeps every ``world_size``-th row of each
    batch from ``rank`` on, so the processes together see exactly the batches
    of one process; a last batch of fewer rows than processes is skipped by
    all of them alike.
    """

    def __init__(self, dataset: FieldTensors, batch_size: int, *, shuffle: bool, device, generator=None,
                 shard: tuple[int, int] = (0, 1)):
        self.dataset, self.batch_size, self.shuffle, self.generator = dataset, batch_size, shuffle, generator
        self.rank, self.world_size = shard
        self.device = torch.device(device if device is not None else "cpu")
        self._resident = self.device.type == "cpu" or dataset.nbytes() <= _DEVICE_RESIDENT_BYTES
        tensors = (dataset.ids, dataset.values, dataset.y if dataset.y is not None else torch.zeros(len(dataset)))
        tensors += () if dataset.w is None else (dataset.w,)
        self._tensors = tuple(t.to(self.device) for t in tensors) if self._resident else tensors

    def __len__(self) -> int:
        n = len(self.dataset)
        full, rest = divmod(n, self.batch_size)
        return full + (rest >= self.world_size if rest else 0)

    def __iter__(self):
        n = len(self.dataset)
        order = None
        if self.shuffle:
            # Drawn on the host generator (seeded, device-independent), copied to the data's device once per epoch.
            order = torch.randperm(n, generator=self.generator).to(self._tensors[0].device)
        elif self.world_size > 1:
            order = torch.arange(n, device=self._tensors[0].device)
        for start in range(0, n, self.batch_size):
            if order is None:
                batch = tuple(t[start : start + self.batch_size] for t in self._tensors)
            else:
                index = order[start : start + self.batch_size]
                if self.world_size > 1:
                    if len(index) < self.world_size:
                        break
                    index = index[self.rank :: self.world_size]
                batch = tuple(t.index_select(0, index) for t in self._tensors)
            if not self._resident:
                batch = tuple(t.pin_memory().to(self.device, non_blocking=True) for t in batch)
            X = {"ids": batch[0], "values": batch[1]}
            if len(batch) > 3:
                X["sample_weight"] = batch[3]
            yield X, batch[2]
