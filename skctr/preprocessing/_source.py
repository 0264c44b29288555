"""Tables larger than memory: a parquet path or a ``pyarrow.dataset.Dataset``, read in record batches."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from ._schema import file_schemas, inferred_schema, unified_schema, with_partitions

#: Rows per record batch read from a table source.
READ_ROWS = 65_536


def is_table_source(X) -> bool:
    """Whether ``X`` is a path (parquet file or folder of parquet files) or a ``pyarrow.dataset.Dataset``."""
    if isinstance(X, (str, os.PathLike)):
        return True
    try:
        import pyarrow.dataset as ds
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return False
    return isinstance(X, ds.Dataset)


def open_table_source(X):
    """``X`` as a ``pyarrow.dataset.Dataset`` whose schema every file agrees with (:func:`unified_schema`).

    A path must name a parquet file or a folder of them. A user's FileSystemDataset with the schema pyarrow
    inferred (the first file's) is checked like a folder; one given a schema explicitly is trusted, since
    pyarrow casts every batch to that schema and reads a declared column as null where a file lacks it.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    if isinstance(X, ds.FileSystemDataset):
        return X.replace_schema(with_partitions(unified_schema(file_schemas(X)), X)) if inferred_schema(X) else X
    if isinstance(X, ds.Dataset):
        return X
    path = Path(X)
    if not path.exists():
        raise FileNotFoundError(f"No parquet file or folder at {str(path)!r}; pass an existing path or a pyarrow Dataset.")
    # An explicit (empty) schema keeps pyarrow from reading the first footer: all are read below, alike.
    found = ds.dataset(str(path), format="parquet", schema=pa.schema([]))
    if not found.files:
        raise ValueError(f"No parquet files in the folder {str(path)!r}; pass a folder holding the table's parquet files.")
    return found.replace_schema(unified_schema(file_schemas(found)))


def check_columns(dataset, columns, what: str) -> None:
    """Raise a ValueError naming the ``columns`` that the table lacks."""
    missing = [c for c in columns if c not in set(dataset.schema.names)]
    if missing:
        raise ValueError(
            f"{what}: column(s) {missing} are not in the table (columns: {dataset.schema.names[:20]})."
        )


def _stable_dtype(arrow_type):
    """Integers and booleans as pandas' nullable dtypes: a batch without nulls must convert like one with."""
    import pyarrow as pa

    nullable = {
        pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(),
        pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(),
        pa.uint64(): pd.UInt64Dtype(), pa.bool_(): pd.BooleanDtype(),
    }
    return nullable.get(arrow_type)


def read_frame(table) -> pd.DataFrame:
    """A pyarrow Table or RecordBatch as pandas, with the dtypes every batch of a source gets.

    Plain ``to_pandas()`` turns an integer column into int64 or float64
    depending on whether that batch has nulls, which would change the column's
    inferred kind from batch to batch; nullable dtypes keep it fixed.
    """
    # integer_object_nulls: a list of ints with a null item would otherwise become floats, merging ids above 2**53.
    return table.to_pandas(types_mapper=_stable_dtype, integer_object_nulls=True)


def iter_frames(dataset, columns=None, *, read_rows: int = READ_ROWS, seed=None) -> Iterator[pd.DataFrame]:
    """The table as pandas frames (:func:`read_frame`) of at most ``read_rows`` rows, in file order or, with
    ``seed``, with the order of its fragments (files, or row groups within one file) shuffled.

    Memory holds one record batch at a time, whatever the table's size.
    """
    fragments = list(dataset.get_fragments())
    if seed is not None:
        rng = np.random.RandomState(seed)
        pieces = []
        for fragment in fragments:
            groups = getattr(fragment, "row_groups", None)
            # A single large file shuffles at row-group granularity.
            pieces += fragment.split_by_row_group() if groups and len(groups) > 1 else [fragment]
        fragments = [pieces[i] for i in rng.permutation(len(pieces))]
    for fragment in fragments:
        # The dataset's schema, not the fragment's own: every batch converts alike.
        for batch in fragment.to_batches(schema=dataset.schema, columns=columns, batch_size=read_rows):
            if batch.num_rows:
                yield read_frame(batch)


def count_rows(dataset) -> int:
    return int(dataset.count_rows())
