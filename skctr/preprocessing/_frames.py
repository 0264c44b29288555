"""Tables from any dataframe library, as pandas frames whose columns keep their labels and dtypes.

pandas frames pass through. Frames of other libraries (polars, pyarrow, and
whatever else narwhals knows) and objects exporting an Arrow stream (the
Arrow PyCapsule interface: DuckDB relations, record batch readers, ...) go
through Arrow into pandas with the dtypes every record batch of a parquet
source gets (:func:`~._source.read_frame`), so an integer id column stays an
integer column and is never read as text or as a float feature. A dict of
columns and a list of records (dicts) are frames too. Anything else (arrays,
lists of rows) is not a frame and is left to the caller.
"""
from __future__ import annotations

import narwhals.stable.v2 as nw
import pandas as pd
from scipy import sparse

from ._source import read_frame


def as_pandas(X, what: str = "X"):
    """``X`` as a pandas DataFrame if it is a table of any kind, else ``X`` unchanged."""
    if isinstance(X, pd.DataFrame) or sparse.issparse(X):  # a DOK sparse matrix is a dict: not a table
        return X
    if isinstance(X, dict):
        return _from_columns(X, what)
    if isinstance(X, list) and X and all(isinstance(row, dict) for row in X):
        names = dict.fromkeys(name for row in X for name in row)  # every key, in order of first appearance
        return _from_columns({name: [row.get(name) for row in X] for name in names}, what)
    if isinstance(X, list) and any(isinstance(row, dict) for row in X):
        raise TypeError(f"{what} is a list mixing dicts (records) with other rows; pass all rows as dicts or none.")
    native = nw.from_native(X, eager_only=True, pass_through=True)
    if isinstance(native, nw.DataFrame):
        if native.implementation.is_pandas():
            return nw.to_native(native)
        bad = [name for name in native.columns if "\x00" in name]
        if bad:  # polars' Arrow export aborts on them instead of raising
            raise ValueError(f"{what} has column names holding a NUL character {bad[:5]}; rename them.")
        return read_frame(native.to_arrow())
    if isinstance(nw.from_native(X, pass_through=True), nw.LazyFrame):
        raise TypeError(f"{what} is a lazy frame ({type(X).__name__}); collect it first, e.g. X.collect().")
    if hasattr(X, "__arrow_c_stream__") and not hasattr(X, "__array__"):
        import pyarrow as pa

        return read_frame(pa.table(X))
    return X


def _from_columns(columns: dict, what: str) -> pd.DataFrame:
    """A frame of equally long Python columns, each typed as Arrow types it (:func:`_typed`)."""
    lengths = {name: len(v) if hasattr(v, "__len__") and not isinstance(v, (str, bytes)) else "a scalar"
               for name, v in columns.items()}
    if len(set(lengths.values())) > 1 or "a scalar" in lengths.values():
        raise ValueError(
            f"{what} is a dict that is not a table of equally long columns (lengths: {dict(list(lengths.items())[:10])}); "
            "pass a dict of columns of one length, or a list of dicts (one per row), e.g. [row] for a single row."
        )
    return pd.DataFrame({name: _typed(values) for name, values in columns.items()})


def _typed(values) -> pd.Series:
    """One column typed by Arrow, so ints with None stay ints (pandas would make them floats, turning an id column
    numeric and merging ids above 2**53); a column Arrow cannot type (ints mixed with text) stays Python objects."""
    import pyarrow as pa

    try:
        array = pa.array(values, from_pandas=True)  # NaN is missing, as in pandas
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pd.Series(list(values), dtype=object)
    return read_frame(pa.table({"column": array}))["column"]


def column_names(labels, what: str = "X") -> list[str]:
    """A field name for each column label: strings as they are, tuples (MultiIndex) joined with "_", others str().

    The labels themselves stay the columns' identity (transform selects by
    them); the names only name the fields, so they must be unique too.
    """
    kinds = {isinstance(label, str) for label in labels}
    if len(kinds) > 1:
        raise TypeError(
            f"{what} column labels must be all strings or all non-strings, got mixed types "
            f"{sorted({type(c).__name__ for c in labels})}. Convert them, e.g. X.columns = X.columns.astype(str)."
        )
    names = [label if isinstance(label, str) else
             "_".join(map(str, label)) if isinstance(label, tuple) else str(label) for label in labels]
    if len(set(names)) != len(names):
        clashes = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f"{what} column labels {list(labels)} give clashing field names {clashes}; rename the columns.")
    return names
