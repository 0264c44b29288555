"""Column coercion and planning for FieldEncoder: field kinds, numeric casts, log buckets, sequence cells."""
from __future__ import annotations

import decimal
import hashlib
import numbers
from itertools import chain

import numpy as np
import pandas as pd
from pandas.api.types import (
    CategoricalDtype,
    is_bool_dtype,
    is_complex_dtype,
    is_float_dtype,
    is_integer_dtype,
    is_numeric_dtype,
    is_object_dtype,
    is_string_dtype,
)

from ..fields import PAD_INDEX, Field


_NUMERIC_ENCODINGS = ("scale", "log_bucket")


_SEQUENCE_OPTIONS = ("max_len", "delimiter", "target", "order")


#: How a sequence cell's items are ordered in time; the encoded layout is always newest first.
SEQUENCE_ORDERS = ("newest_first", "oldest_first")


_LIST_TYPES = (list, tuple, np.ndarray)


_REAL_TYPES = (numbers.Real, np.bool_, decimal.Decimal)


# log_bucket keeps int(v) for v <= 2; clipping first keeps the int64 cast defined.
_INT_CLIP = float(2**53)


def _digest(previous: str, kind, values) -> str:
    """A short digest of ``values`` in order, of their type ``kind`` and of the ``previous`` digest they extend."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(f"{previous}|{kind}|".encode())
    if len(values):
        digest.update(pd.util.hash_array(np.asarray(values, dtype=object)).tobytes())
    return digest.hexdigest()


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _examples(values, k=5):
    return [v.item() if isinstance(v, np.generic) else v for v in list(values)[:k]]


def _as_float(series, column):
    """A numeric column as float64 with NaN for missing; rejects non-numbers and inf."""
    dtype = series.dtype
    if isinstance(dtype, CategoricalDtype):
        categories = dtype.categories
        if not (is_numeric_dtype(categories.dtype) and not is_complex_dtype(categories.dtype)):
            _raise_non_numeric(series, column)
        codes = series.cat.codes.to_numpy()
        values = np.append(categories.to_numpy(dtype=np.float64), np.nan)[codes]
    elif (is_numeric_dtype(dtype) or is_bool_dtype(dtype)) and not is_complex_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    elif is_object_dtype(dtype):
        cells = series.to_numpy(dtype=object)
        present = ~pd.isna(cells)
        # numpy would parse strings such as "3.5"; a string is not a number here.
        bad = [v for v in cells[present] if not isinstance(v, _REAL_TYPES)]
        if bad:
            _raise_non_numeric(series, column, bad)
        values = np.full(len(cells), np.nan)
        values[present] = cells[present].astype(np.float64)
    else:
        _raise_non_numeric(series, column)
    if np.isinf(values).any():
        raise ValueError(
            f"Numeric column {column!r} contains infinite values. Replace them, e.g. with NaN "
            "(encoded as missing), before FieldEncoder."
        )
    return values


def _raise_non_numeric(series, column, bad=None):
    if bad is None:
        bad = series.dropna().unique()
    raise ValueError(
        f"Numeric column {column!r} (dtype {series.dtype}) holds non-numeric values, e.g. "
        f"{_examples(bad, 3)}. Convert it to numbers, or pass it in categorical=[...]."
    )


def _log_bucket(values):
    """The Criteo rule: floor(ln(v)**2) for v > 2, else int(v); NaN stays NaN."""
    with np.errstate(invalid="ignore", divide="ignore"):
        big = values > 2
        out = np.trunc(np.clip(values, -_INT_CLIP, _INT_CLIP))
        out[big] = np.floor(np.log(values[big]) ** 2)
    return out


def _split_cells(series, delimiter, column):
    """Cells of a sequence column as (lengths, all tokens in one flat array)."""
    cells = series.to_numpy(dtype=object)
    lengths = np.zeros(len(cells), dtype=np.int64)
    parts = []
    all_arrays = True
    for i, cell in enumerate(cells):
        if isinstance(cell, str):
            # An empty token ("a^^b") is a missing token; an empty string an empty sequence.
            tokens = cell.split(delimiter) if cell else ()
            if "" in tokens:
                tokens = [t or None for t in tokens]
            all_arrays = False
        elif isinstance(cell, _LIST_TYPES):
            if isinstance(cell, np.ndarray) and cell.ndim != 1:
                raise ValueError(
                    f"Sequence column {column!r} holds an array of shape {cell.shape}; "
                    "sequence cells must be 1-D."
                )
            tokens = cell
            all_arrays = all_arrays and isinstance(cell, np.ndarray)
        elif cell is None or (pd.api.types.is_scalar(cell) and pd.isna(cell)):
            continue
        else:
            raise ValueError(
                f"Sequence column {column!r} holds a {type(cell).__name__} value ({cell!r}). "
                "Sequence cells must be lists, tuples, 1-D arrays or delimiter-joined strings "
                "(None or NaN for an empty sequence); pass scalar columns in categorical=[...]."
            )
        lengths[i] = len(tokens)
        parts.append(tokens)
    if not parts:
        return lengths, np.empty(0, dtype=object)
    if all_arrays:
        return lengths, np.concatenate(parts)
    return lengths, np.fromiter(chain.from_iterable(parts), dtype=object, count=int(lengths.sum()))


class _ColumnPlan:
    """What FieldEncoder learned about one input column."""

    def __init__(self, column, kind, encoding=None, max_len=1, delimiter=None, target=None, order="newest_first"):
        self.column = column
        self.kind = kind  # "categorical", "numeric" or "sequence"
        self.encoding = encoding  # "scale" or "log_bucket" for numeric columns
        self.max_len = max_len
        # max_len=None: the longest sequence seen in fit, over every batch of a table source.
        self.inferred_max_len = kind == "sequence" and max_len is None
        self.delimiter = delimiter
        self.target = target
        self.order = order
        self.longest = 0  # the longest cell seen in fit
        self.default_encoding = False  # a numeric column encoded with numeric_encoding, not its own
        self.vocabulary = None
        self.hashed = False  # encoded by hashing alone (no vocabulary): a hashed column, or a sequence targeting one
        self.hash_buckets = 0
        self.mean = 0.0
        self.scale = 1.0

    @property
    def field(self):
        if self.kind == "numeric" and self.encoding == "scale":
            return Field(self.column, "numeric", lineage=((0, _digest("", "scale", [self.mean, self.scale])),))
        kind = "categorical" if self.kind == "numeric" else self.kind
        return Field(self.column, kind, self.vocabulary.size, self.max_len, self.target,
                     hash_buckets=self.vocabulary.hash_buckets, lineage=self.vocabulary.lineage)

    def transform(self, series):
        """The column's encoded values, and the share of its present values out of vocabulary (None if unindexed)."""
        if self.kind == "numeric":
            values = _as_float(series, self.column)
            if self.encoding == "scale":
                with np.errstate(over="ignore"):
                    return np.where(np.isnan(values), 0.0, (values - self.mean) / self.scale), None
            return self.vocabulary.encode(_log_bucket(values), self.column, computed=True)
        if self.kind == "categorical":
            return self.vocabulary.encode(series, self.column)
        lengths, flat = _split_cells(series, self.delimiter, self.column)
        n = len(lengths)
        starts = np.cumsum(lengths) - lengths
        positions = np.arange(len(flat)) - np.repeat(starts, lengths)
        rows = np.repeat(np.arange(n), lengths)
        if self.order == "oldest_first":
            positions = np.repeat(lengths, lengths) - 1 - positions  # recency rank: the last item is the newest
        keep = positions < self.max_len  # truncation keeps the newest max_len tokens
        out = np.full((n, self.max_len), PAD_INDEX, dtype=np.int64)
        ids, share = self.vocabulary.encode(flat[keep], self.column)
        out[rows[keep], positions[keep]] = ids
        return out, share


def _name_list(value, param):
    """The column names a categorical/numeric/sequence parameter lists (a dict lists its keys)."""
    if value is None:
        return []
    if isinstance(value, str):
        raise ValueError(
            f"{param} must be a list of column names, got the string {value!r}; use {param}=[{value!r}]."
        )
    try:
        return list(value)
    except TypeError:
        raise ValueError(f"{param} must be None, a list of column names or a dict, got {value!r}.") from None


def _check_max_len(value, param):
    if value is not None and not (_is_int(value) and value >= 1):
        raise ValueError(f"{param} must be None or an int >= 1, got {value!r}.")


def _check_delimiter(value, param):
    if not (isinstance(value, str) and value):
        raise ValueError(f"{param} must be a non-empty string, got {value!r}.")


def _list_cells(series):
    """For each non-missing cell of an object column, whether it is a list, tuple or array."""
    cells = series.to_numpy(dtype=object)
    present = cells[~pd.isna(cells)] if len(cells) else cells
    return np.fromiter((isinstance(v, _LIST_TYPES) for v in present), dtype=bool, count=len(present))


def _infer_kind(series, column):
    """The field kind a column's dtype implies."""
    dtype = series.dtype
    if is_complex_dtype(dtype):
        raise ValueError(f"Complex data not supported: column {column!r} has dtype {dtype}.")
    if isinstance(dtype, CategoricalDtype) or is_bool_dtype(dtype) or is_integer_dtype(dtype):
        return "categorical"
    if is_float_dtype(dtype):
        return "numeric"
    if is_object_dtype(dtype):
        is_list = _list_cells(series)
        if len(is_list) and is_list.all():
            return "sequence"
        if is_list.any():
            raise ValueError(
                f"Column {column!r} mixes list-like cells with scalars. Pass it in "
                "sequence=[...] (strings are then split on the delimiter) or clean it."
            )
        return "categorical"
    if is_string_dtype(dtype):
        return "categorical"
    raise ValueError(
        f"Cannot infer how to encode column {column!r} of dtype {dtype}. Pass it in "
        "categorical=[...] to use each distinct value as a category, or convert it "
        "(e.g. datetimes to numeric features)."
    )


def _rename(label, to_name):
    """The field name of a column label given in a parameter (labels may be ints or tuples); others unchanged."""
    try:
        return to_name.get(label, label)
    except TypeError:  # an unhashable entry: left for the parameter checks to report
        return label


def _renamed(value, to_name):
    """A categorical/numeric/sequence parameter with its column labels turned into field names."""
    if not to_name or value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return {_rename(key, to_name): options for key, options in value.items()}
    try:
        return [_rename(label, to_name) for label in value]
    except TypeError:
        return value


def _check_representable(scaled, column, dtype):
    """A ValueError naming the column and first row whose scaled value the output dtype cannot hold."""
    limit = np.finfo(dtype).max
    bad = ~(np.abs(scaled) <= limit)  # also catches inf and NaN
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"Numeric column {column!r}: row {row} (and {int(bad.sum()) - 1} more) scales to {scaled[row]:.3g}, beyond "
            f"what {np.dtype(dtype).name} holds; clip the column to the range seen in fit before transform, or fit "
            "with dtype=np.float64."
        )
