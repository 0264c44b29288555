"""Value primitives of FieldEncoder: vocabularies, value counts merged across record batches, moments."""
from __future__ import annotations

import numbers
from functools import cached_property

import numpy as np
import pandas as pd
from pandas.api.types import (
    CategoricalDtype,
    is_bool_dtype,
    is_float_dtype,
    is_integer_dtype,
    is_object_dtype,
    is_string_dtype,
)

from ._columns import _as_float, _digest, _examples, _log_bucket, _split_cells
from ._hashing import hash_buckets_of
from ..fields import FIRST_VALUE_INDEX, OOV_INDEX


class UnknownValueWarning(UserWarning):
    """A column's share of out-of-vocabulary values at transform is far above the share fit saw."""


class _Vocabulary:
    """Kept values of one categorical field and how to look values up in it."""

    def __init__(self, index, seen, missing_code, lineage=(), hash_buckets=0):
        self.index = index  # kept values; position i has embedding index i + 3
        self.seen = seen  # every value counted in fit; only kept for handle_unknown="error"
        self.missing_code = missing_code
        # Values out of the index hash into this many rows after the kept ones, instead of sharing OOV.
        self.hash_buckets = hash_buckets
        self.fit_unknown_share = 0.0  # share of the non-missing training values out of vocabulary (rare ones)
        # One (size, digest) per state of the vocabulary, the current one last (see Field.lineage).
        self.lineage = lineage or ((self.size, _digest("", f"{self.value_type}|{hash_buckets}", index)),)

    @property
    def size(self):
        return FIRST_VALUE_INDEX + len(self.index) + self.hash_buckets

    @property
    def hash_offset(self):
        """The index of hash bucket 0."""
        return FIRST_VALUE_INDEX + len(self.index)

    def extended(self, new_values, seen) -> "_Vocabulary":
        """This vocabulary with ``new_values`` appended: every kept value keeps its index, the new ones follow
        (and the hash buckets after them)."""
        if not len(new_values):
            return _Vocabulary(self.index, seen, self.missing_code, self.lineage, self.hash_buckets)
        index = self.index.append(pd.Index(new_values))
        digest = _digest(self.lineage[-1][1], self.value_type, new_values)
        lineage = self.lineage + ((FIRST_VALUE_INDEX + len(index) + self.hash_buckets, digest),)
        return _Vocabulary(index, seen, self.missing_code, lineage, self.hash_buckets)

    @cached_property
    def value_type(self) -> str | None:
        # With handle_unknown="error" the seen values are part of the lookup (and of the JSON) too.
        return _value_type(self.index if self.seen is None else self.seen)

    def unknown_share(self, counts) -> float:
        """The share of the values counted in ``counts`` (value -> count) that this vocabulary maps to OOV."""
        total = counts.sum()
        if not total:
            return 0.0
        return float(counts.to_numpy()[_positions(self.index, counts.index) < 0].sum() / total)

    def encode(self, values, column, *, computed=False):
        """Embedding indices of ``values`` (a 1-D array, Series or Index), and the share of the present ones
        out of vocabulary (NaN when none is present). ``computed`` values are the encoder's own (log buckets),
        not the user's, so no type conversion or check applies to them."""
        try:
            # Factorize once so each distinct value is looked up once; NA gets code -1.
            codes, uniques = pd.factorize(values)
        except TypeError as exc:
            raise _unhashable(column, exc) from None
        if not computed:
            uniques = _as_vocabulary_type(self.value_type, uniques)
            if self.value_type == "int":
                _check_exact_floats(uniques, column)
        found = _positions(self.index, uniques)
        if self.seen is not None:
            unseen = (found < 0) & (_positions(self.seen, uniques) < 0)
            if unseen.any():
                raise ValueError(
                    f"Found values in column {column!r} that were not seen in fit, e.g. "
                    f"{_examples(np.asarray(uniques, dtype=object)[unseen])}. Pass "
                    "handle_unknown='oov' to map them to the out-of-vocabulary index instead."
                )
        per_unique = np.where(found >= 0, found + FIRST_VALUE_INDEX, OOV_INDEX)
        if self.hash_buckets and (found < 0).any():
            per_unique[found < 0] = self.hash_offset + hash_buckets_of(uniques[found < 0], self.hash_buckets, column)
        present = codes >= 0
        share = float((found[codes[present]] < 0).mean()) if present.any() else float("nan")
        return np.append(per_unique, self.missing_code)[codes], share


def _unhashable(column, exc) -> TypeError:
    return TypeError(
        f"Column {column!r} holds unhashable values ({exc}): categorical values and sequence items must be scalars "
        "(strings, numbers, bools). A column of lists belongs in sequence=[...]; a sequence whose items are "
        "themselves lists (nested lists) must be flattened first."
    )


# Beyond 2**53 float64 skips integers: a float there stands for several ids.
_EXACT_FLOAT_LIMIT = 2.0**53


def _check_exact_floats(uniques, column) -> None:
    """Floats sent for integer ids must name one id each; a ValueError names the column otherwise."""
    dtype = uniques.dtype.categories.dtype if isinstance(uniques.dtype, CategoricalDtype) else uniques.dtype
    if not is_float_dtype(dtype):
        return
    values = np.asarray(uniques, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ambiguous = np.abs(values) >= _EXACT_FLOAT_LIMIT
    if ambiguous.any():
        raise ValueError(
            f"Column {column!r} holds integer ids as floats beyond 2**53 (e.g. {values[ambiguous][0]:.17g}), where a "
            "float stands for several ids; send the column as integers (int64, or Int64 with missing values)."
        )


def _value_type(index) -> str | None:
    """"int", "bool" or "str" when every kept value is of that type, else None."""
    if is_integer_dtype(index.dtype):
        return "int"
    if is_string_dtype(index.dtype) and not is_object_dtype(index.dtype):
        return "str"
    return value_type(index.tolist()) if is_object_dtype(index.dtype) else None


def value_type(values) -> str | None:
    """"int", "bool" or "str" when every one of the Python ``values`` is of that type, else None."""
    if not len(values):
        return None
    if all(isinstance(v, (bool, np.bool_)) for v in values):
        return "bool"
    if all(isinstance(v, str) for v in values):
        return "str"
    if all(isinstance(v, numbers.Integral) and not isinstance(v, (bool, np.bool_)) for v in values):
        return "int"
    return None


_BOOL_WORDS = {"True": True, "False": False, "true": True, "false": False}


def as_value_type(value, kind):
    """``value`` converted to a vocabulary's value type where that is lossless and unambiguous: a string that is
    an integer's exact decimal form ("123", not "0123" or "1e3") for an int vocabulary, "True"/"False" (or lower
    case) for a bool one, an integer's decimal form for a str one; anything else unchanged."""
    if kind == "int" and isinstance(value, str):
        try:
            number = int(value)
        except ValueError:
            return value
        return number if str(number) == value else value
    if kind == "bool" and isinstance(value, str):
        return _BOOL_WORDS.get(value, value)
    if kind == "str" and isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return str(value)
    return value


def _as_vocabulary_type(kind, uniques):
    """Distinct values converted by :func:`as_value_type`; only text (or, for a str vocabulary, integers) is."""
    dtype = uniques.dtype
    if isinstance(dtype, CategoricalDtype):
        dtype = dtype.categories.dtype
    textual = is_object_dtype(dtype) or is_string_dtype(dtype)
    if kind is None or not len(uniques) or not (textual or (kind == "str" and is_integer_dtype(dtype))):
        return uniques
    return pd.Index([as_value_type(v, kind) for v in np.asarray(uniques, dtype=object)], dtype=object)


def _positions(index, uniques):
    """Position of each of ``uniques`` (distinct, non-missing) in ``index``, -1 if absent."""
    if len(uniques) == 0:
        return np.empty(0, dtype=np.intp)
    if isinstance(uniques.dtype, CategoricalDtype):
        uniques = uniques.categories.take(uniques.codes)
    uniques = pd.Index(uniques)
    if is_object_dtype(uniques.dtype):
        uniques = uniques.infer_objects()  # e.g. Python ints from lists: use the fast path
    loose = [is_object_dtype(d) or is_bool_dtype(d) for d in (index.dtype, uniques.dtype)]
    if not any(loose):
        return index.get_indexer(uniques)
    # pandas declines to compare e.g. bools with ints; a dict matches as Python does.
    table = dict(zip(index.tolist(), range(len(index))))
    return np.fromiter((table.get(v, -1) for v in np.asarray(uniques, dtype=object).tolist()),
                       dtype=np.intp, count=len(uniques))


def _value_counts(series, column):
    """Distinct non-missing values of a column and their counts."""
    if isinstance(series.dtype, CategoricalDtype):
        codes = series.cat.codes.to_numpy()
        counts = np.bincount(codes[codes >= 0], minlength=len(series.cat.categories))
        present = counts > 0  # unused categories are not training data
        return pd.Series(counts[present], index=series.cat.categories[present])
    try:
        return series.value_counts(dropna=True, sort=False)
    except TypeError as exc:
        raise _unhashable(column, exc) from None


def _plain_index(index):
    """A lookup index matching values by Python equality, with a numpy dtype where possible."""
    dtype = index.dtype
    if is_bool_dtype(dtype):
        # A bool index matches only bools; an object one also matches 1 and 0, as Python does.
        return pd.Index(index.to_numpy(dtype=object), dtype=object)
    nullable = isinstance(dtype, pd.api.extensions.ExtensionDtype)
    if nullable and (is_integer_dtype(dtype) or is_float_dtype(dtype)):
        return pd.Index(index.to_numpy(dtype=dtype.numpy_dtype))
    return pd.Index(index, name=None)


class _Moments:
    """Count, mean and sum of squared deviations of a numeric column, merged batch by batch (Chan et al.)."""

    def __init__(self):
        self.n, self.mean, self.m2, self.max_abs = 0, 0.0, 0.0, 0.0

    def add(self, present):
        n = len(present)
        if n == 0:
            return
        self.max_abs = max(self.max_abs, float(np.abs(present).max()))
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported, naming the column, at the end
            mean = float(present.mean())
            m2 = float(((present - mean) ** 2).sum())
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        total = self.n + n
        with np.errstate(over="ignore", invalid="ignore"):  # numpy floats overflow to inf; Python's would raise
            delta = np.float64(mean) - self.mean
            self.mean = float(self.mean + delta * n / total)
            self.m2 = float(self.m2 + m2 + delta**2 * self.n * n / total)
        self.n = total


def _merge_counts(counts, more):
    """Sum two value-count Series by value (Python equality, as the vocabulary matches)."""
    return more if counts is None else _summed([counts, more])


def _summed(parts):
    """Value-count Series summed by value, in the order values first appear."""
    return pd.concat(parts).groupby(level=0, sort=False).sum()


class _CountMerger:
    """Value counts of many batches, merged in amortised O(n log n).

    Merging every batch into the running counts costs the whole count per
    batch, quadratic for a column with millions of ids; batches wait instead
    until they hold as many entries as the merged counts, then merge at once
    (the order of first appearance, and so of tied counts, is kept).
    """

    def __init__(self):
        self.merged, self.pending, self.pending_size = None, [], 0

    def add(self, counts: pd.Series) -> None:
        self.pending.append(counts)
        self.pending_size += len(counts)
        if self.merged is None or self.pending_size >= len(self.merged):
            self._merge()

    def _merge(self) -> None:
        parts = ([] if self.merged is None else [self.merged]) + self.pending
        self.merged = parts[0] if len(parts) == 1 else _summed(parts)
        self.pending, self.pending_size = [], 0

    def result(self) -> pd.Series:
        if self.pending:
            self._merge()
        return self.merged


def _count_values(plans, frames, *, fixed_layout=False):
    """Value counts of every indexed column, and scaling of numeric ones, over all ``frames``.

    One frame is the in-memory fit; several are the record batches of a table
    source, read one at a time. Only the counts are kept, so memory follows the
    number of distinct values, not of rows. With ``fixed_layout`` (growing a
    fitted encoder) only values are counted: scaling and sequence lengths stay.
    """
    counts, moments, n_rows = {}, {}, 0
    for frame in frames:
        n_rows += len(frame)
        for plan in plans:
            if plan.hashed and plan.kind != "sequence":  # nothing to count: memory does not grow with its ids
                continue
            series = frame[plan.column]
            if plan.kind == "categorical":
                counts.setdefault(plan.column, _CountMerger()).add(_value_counts(series, plan.column))
            elif plan.kind == "numeric":
                values = _as_float(series, plan.column)
                present = values[~np.isnan(values)]
                if plan.encoding == "scale":
                    if not fixed_layout:
                        moments.setdefault(plan.column, _Moments()).add(present)
                else:
                    buckets = pd.Series(_log_bucket(present).astype(np.int64)).value_counts(sort=False)
                    counts.setdefault(plan.column, _CountMerger()).add(buckets)
            else:
                lengths, flat = _split_cells(series, plan.delimiter, plan.column)
                if not fixed_layout:
                    plan.longest = max(plan.longest, int(lengths.max(initial=0)))
                if plan.inferred_max_len and not fixed_layout:
                    plan.max_len = max(plan.max_len or 1, int(lengths.max(initial=0)), 1)
                if plan.hashed:  # a hashed sequence: only its lengths matter
                    continue
                tokens = _value_counts(pd.Series(flat, dtype=flat.dtype), plan.column)
                if is_object_dtype(tokens.index.dtype) and any(isinstance(v, (list, tuple, dict, set, np.ndarray))
                                                               for v in tokens.index):
                    raise _unhashable(plan.column, "an item is itself a list")
                counts.setdefault(plan.column, _CountMerger()).add(tokens)
    for plan in plans:
        if plan.kind == "numeric" and plan.encoding == "scale" and plan.column in moments:
            stats = moments[plan.column]
            if stats.n:
                with np.errstate(over="ignore", invalid="ignore"):
                    std = float(np.sqrt(stats.m2 / stats.n))
                if not (np.isfinite(stats.mean) and np.isfinite(std)):
                    raise ValueError(
                        f"Numeric column {plan.column!r} holds values as large as {stats.max_abs:.3g}, too large for "
                        "a finite mean and standard deviation in float64; rescale or clip it (e.g. np.log1p), or pass "
                        f"it in numeric={{{plan.column!r}: 'log_bucket'}}."
                    )
                plan.mean = stats.mean
                plan.scale = std if std > 0 else 1.0
    return {column: merger.result() for column, merger in counts.items()}, n_rows
