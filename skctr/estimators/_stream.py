"""Out-of-core training data: record batches encoded on the fly and shuffled within a buffer."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import torch

from ..preprocessing._source import count_rows, iter_frames
from ._data import BatchIterator, FieldTensors

#: Rows shuffled together before batches are drawn from them (with a 4096-row batch, 64 batches).
SHUFFLE_BUFFER_ROWS = 262_144


class FieldStream(torch.utils.data.IterableDataset):
    """A table source seen as encoded chunks: ``chunks(seed)`` yields one FieldTensors per record batch.

    ``encode(frame) -> FieldTensors`` turns a pandas frame of the source's
    columns (features and label) into tensors; it is the fitted estimator's
    encoder and label mapping. Nothing but the record batch being encoded
    and the shuffle buffer is held in memory.
    """

    def __init__(self, dataset, columns: list[str], encode: Callable, *, buffer_rows: int = SHUFFLE_BUFFER_ROWS):
        self.dataset, self.columns, self.encode, self.buffer_rows = dataset, columns, encode, buffer_rows
        self.n_rows = count_rows(dataset)

    def __len__(self) -> int:
        return self.n_rows

    def chunks(self, seed=None) -> Iterator[FieldTensors]:
        for frame in iter_frames(self.dataset, self.columns, seed=seed):
            yield self.encode(frame)

    def __iter__(self):
        raise TypeError("Iterate a FieldStream through StreamBatchIterator, which batches and shuffles it.")


class StreamBatchIterator:
    """Batches of a :class:`FieldStream`: with ``shuffle``, the fragment order is shuffled every epoch and
    rows are drawn at random from a buffer of ``stream.buffer_rows`` rows; batches are full except the last.

    ``shard`` splits every batch across data-parallel processes as :class:`BatchIterator` does; every process
    reads the whole stream with the same seed, so they agree on each batch.
    """

    def __init__(self, stream: FieldStream, batch_size: int, *, shuffle: bool, device, generator=None,
                 shard: tuple[int, int] = (0, 1)):
        self.stream, self.batch_size, self.shuffle, self.device, self.shard = stream, batch_size, shuffle, device, shard
        self.generator = generator

    def __len__(self) -> int:
        full, rest = divmod(len(self.stream), self.batch_size)
        return full + (rest >= self.shard[1] if rest else 0)

    def _batches(self, tensors: FieldTensors):
        return BatchIterator(tensors, self.batch_size, shuffle=False, device=self.device, shard=self.shard)

    def __iter__(self):
        seed = int(torch.randint(2**31 - 1, (1,), generator=self.generator)) if self.shuffle else None
        flush = max(self.stream.buffer_rows // self.batch_size, 1) * self.batch_size
        buffer: list[FieldTensors] = []
        held = 0
        for chunk in self.stream.chunks(seed):
            buffer.append(chunk)
            held += len(chunk)
            if held >= flush:
                rows = _concat(buffer)
                order = torch.randperm(len(rows), generator=self.generator) if self.shuffle else torch.arange(len(rows))
                yield from self._batches(rows.take(order[:flush]))
                buffer, held = [rows.take(order[flush:])], len(rows) - flush
        if held:
            rows = _concat(buffer)
            order = torch.randperm(len(rows), generator=self.generator) if self.shuffle else torch.arange(len(rows))
            yield from self._batches(rows.take(order))


def _concat(parts: list[FieldTensors]) -> FieldTensors:
    if len(parts) == 1:
        return parts[0]
    def joined(name):
        return None if getattr(parts[0], name) is None else torch.cat([getattr(p, name) for p in parts])

    return FieldTensors(joined("ids"), joined("values"), joined("y"), joined("w"))


def stream_labels(dataset, label: str) -> dict:
    """How many rows hold each distinct value of the ``label`` column, read one record batch at a time."""
    counts = {}
    for frame in iter_frames(dataset, [label]):
        column = frame[label]
        if column.isna().any():
            raise ValueError(f"Label column {label!r} contains missing values; drop or label those rows.")
        for value, n in column.value_counts(sort=False).items():
            counts[value] = counts.get(value, 0) + int(n)
    return dict(sorted(counts.items()))
