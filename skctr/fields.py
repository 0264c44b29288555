"""The field specification: the contract between FieldEncoder and the networks.

Both layers read this module and it reads only numpy, so ``skctr.nn`` stays
pure torch while ``skctr.preprocessing`` produces what it consumes.

A fitted :class:`~skctr.preprocessing.FieldEncoder` turns a DataFrame into a 2-D
array whose columns are laid out field by field: a categorical or numeric field
takes one column, a sequence field takes ``max_len`` columns. :class:`FieldSpec`
records that layout so the networks can size their embedding tables from it.
The encoded array carries its spec along (:class:`FieldArray`, or
``DataFrame.attrs`` under pandas output) so an estimator placed after a
FieldEncoder in a Pipeline learns vocabulary sizes without being told.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dataclass_field
import numpy as np

#: Index layout shared by every categorical and sequence field.
PAD_INDEX = 0
OOV_INDEX = 1
MISSING_INDEX = 2
FIRST_VALUE_INDEX = 3

FIELD_KINDS = ("categorical", "numeric", "sequence")
SPEC_ATTR = "skctr_field_spec"


@dataclass(frozen=True)
class Field:
    """One model field.

    Parameters
    ----------
    name : str
        Column name in the input DataFrame.
    kind : {"categorical", "numeric", "sequence"}
        ``"categorical"`` fields (including log-bucketed numeric columns) hold
        one integer index per row; ``"numeric"`` fields hold one scaled float;
        ``"sequence"`` fields hold ``max_len`` integer indices, 0 for padding.
    vocab_size : int
        Number of embedding rows (padding, out-of-vocabulary and missing rows
        included). 0 for numeric fields.
    max_len : int
        Number of columns the field takes in the encoded array.
    target : str or None
        For a behaviour sequence, the categorical field whose vocabulary and
        embedding table it shares.
    hash_buckets : int
        Rows at the end of the field's table for hashed values (values out
        of its vocabulary, or every value of a hashed column); 0 for none.
    lineage : tuple of (int, str)
        What the encoder's vocabulary (or scaling) of this field has been:
        one ``(vocab_size, digest)`` per state, the current one last, where
        the digest identifies the kept values in index order. A FieldEncoder
        that grows its vocabularies (``partial_fit``) appends a state, so a
        model can tell an extension of the vocabulary it learned from a
        different one. Empty for hand-made fields; not part of equality.
    """

    name: str
    kind: str
    vocab_size: int = 0
    max_len: int = 1
    target: str | None = None
    hash_buckets: int = 0
    lineage: tuple = dataclass_field(default=(), compare=False, repr=False)

    @property
    def digest(self) -> str | None:
        """The digest of the current vocabulary (or scaling), None for a hand-made field."""
        return self.lineage[-1][1] if self.lineage else None

    def __post_init__(self):
        if self.kind not in FIELD_KINDS:
            raise ValueError(f"Field {self.name!r}: kind must be one of {FIELD_KINDS}, got {self.kind!r}.")
        if self.kind == "numeric" and (self.vocab_size != 0 or self.max_len != 1 or self.hash_buckets):
            raise ValueError(f"Numeric field {self.name!r} must have vocab_size=0 and max_len=1.")
        if self.kind != "numeric" and self.vocab_size < FIRST_VALUE_INDEX:
            raise ValueError(f"Field {self.name!r}: vocab_size must be at least {FIRST_VALUE_INDEX}.")
        if self.kind == "categorical" and self.max_len != 1:
            raise ValueError(f"Categorical field {self.name!r} must have max_len=1.")
        if self.hash_buckets < 0 or (self.kind != "numeric" and self.vocab_size < FIRST_VALUE_INDEX + self.hash_buckets):
            raise ValueError(f"Field {self.name!r}: hash_buckets must be in [0, vocab_size - {FIRST_VALUE_INDEX}].")

    @property
    def is_indexed(self) -> bool:
        """True for fields whose columns hold embedding indices."""
        return self.kind != "numeric"


class FieldSpec(tuple):
    """An ordered, immutable collection of :class:`Field` s.

    The order is the column order of the encoded array.
    """

    def __new__(cls, fields=()):
        fields = tuple(fields)
        for field in fields:
            if not isinstance(field, Field):
                raise TypeError(f"FieldSpec holds Field objects, got {type(field).__name__}.")
        names = [f.name for f in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"Field names must be unique, got {names}.")
        return super().__new__(cls, fields)

    def __repr__(self):
        return f"FieldSpec({list(self)!r})"

    def __getnewargs__(self):
        return (tuple(self),)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self]

    @property
    def n_columns(self) -> int:
        """Width of the encoded array."""
        return sum(f.max_len for f in self)

    def column_slices(self) -> dict[str, slice]:
        """Column range of each field in the encoded array."""
        slices, start = {}, 0
        for field in self:
            slices[field.name] = slice(start, start + field.max_len)
            start += field.max_len
        return slices

    def split_columns(self, array):
        """Split an encoded array into ``(ids, values)``.

        ``ids`` holds the index columns of categorical and sequence fields in
        field order (int64); ``values`` holds the numeric columns (float32).
        """
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != self.n_columns:
            raise ValueError(
                f"Expected an encoded array with {self.n_columns} columns, got shape {array.shape}."
            )
        slices = self.column_slices()
        id_cols = [np.arange(slices[f.name].start, slices[f.name].stop) for f in self if f.is_indexed]
        num_cols = [slices[f.name].start for f in self if not f.is_indexed]
        id_cols = np.concatenate(id_cols) if id_cols else np.empty(0, dtype=np.int64)
        ids = array[:, id_cols].astype(np.int64)
        values = array[:, num_cols].astype(np.float32)
        return ids, values


class FieldArray(np.ndarray):
    """A 2-D encoded array that remembers its :class:`FieldSpec`.

    Behaves as a plain ndarray; row selections keep the ``field_spec``.
    """

    field_spec: FieldSpec | None

    def __new__(cls, array, field_spec):
        obj = np.asarray(array).view(cls)
        obj.field_spec = field_spec
        return obj

    def __array_finalize__(self, obj):
        self.field_spec = getattr(obj, "field_spec", None)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        # Arithmetic on indices (ids + 1) would keep a spec that no longer describes them: results are plain.
        inputs = tuple(np.asarray(x) if isinstance(x, FieldArray) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(x) if isinstance(x, FieldArray) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __array_function__(self, func, types, args, kwargs):
        result = super().__array_function__(func, types, args, kwargs)
        if func not in _STACKING or result is NotImplemented:
            return result
        axis = kwargs.get("axis", args[1] if len(args) > 1 else 0)
        spec = _stacked_spec(args[0], _STACKING[func], axis)
        return np.asarray(result) if spec is None else FieldArray(result, spec)

    def __reduce__(self):
        reconstruct, args, state = super().__reduce__()
        return reconstruct, args, (state, self.field_spec)

    def __setstate__(self, state):
        nd_state, self.field_spec = state
        super().__setstate__(nd_state)


# How each stacking function joins 2-D parts: "rows" (one below the other) or "columns" (side by side).
_STACKING = {np.concatenate: None, np.vstack: "rows", np.hstack: "columns", np.column_stack: "columns"}


def _stacked_spec(parts, joins, axis):
    """The FieldSpec of stacked arrays, or None when the result's columns would not mean what they meant.

    Rows of arrays with one spec keep it. Side by side, the fields of each
    FieldArray keep their meaning and the columns of a plain numeric array
    (a StandardScaler's output in a ColumnTransformer) become numeric fields
    ``x<column>``; anything else (different specs, text columns, clashing
    names) gives a plain array.
    """
    parts = list(parts)
    if joins is None:
        joins = "rows" if axis == 0 else "columns" if axis in (1, -1) else None
    if joins == "rows":
        specs = {getattr(p, "field_spec", None) for p in parts}
        return specs.pop() if len(specs) == 1 else None
    if joins != "columns":
        return None
    fields, start = [], 0
    for part in parts:
        spec = getattr(part, "field_spec", None)
        array = np.asarray(part)
        width = 1 if array.ndim == 1 else array.shape[1]
        if spec is not None:
            fields.extend(spec)
        elif array.dtype.kind in "biuf":
            fields.extend(Field(f"x{start + j}", "numeric") for j in range(width))
        else:
            return None
        start += width
    names = [f.name for f in fields]
    return FieldSpec(fields) if len(set(names)) == len(names) else None


def spec_mismatch(spec: FieldSpec, fitted: FieldSpec) -> str | None:
    """How ``spec`` differs from ``fitted`` (layout, sizes, or vocabularies with the same sizes), None if it does not.

    Digests are compared where both fields carry one: arrays encoded by a
    FieldEncoder fitted on other data can have the same layout and sizes.
    """
    if spec.names != fitted.names:
        return f"fields {spec.names[:10]} instead of {fitted.names[:10]}"
    changed = [f"{a.name}: {a.kind}, {a.vocab_size} rows vs {b.kind}, {b.vocab_size} rows"
               for a, b in zip(spec, fitted) if a != b]
    if changed:
        return "; ".join(changed[:5])
    other = [a.name for a, b in zip(spec, fitted) if a.digest and b.digest and a.digest != b.digest]
    if other:
        return f"fields {other[:10]} have the same sizes but other vocabularies or scaling (another encoder's fit)"
    return None


def growth_mismatch(spec: FieldSpec, fitted: FieldSpec) -> str | None:
    """Why ``spec`` is not ``fitted`` with vocabularies grown by appending rows, None if it is.

    Growth keeps the fields, kinds and lengths and may only add rows at the
    end of a vocabulary: the fitted state must be in the new field's lineage.
    """
    if spec.names != fitted.names:
        return f"fields {spec.names[:10]} instead of {fitted.names[:10]}"
    for new, old in zip(spec, fitted):
        if (new.kind, new.max_len, new.target, new.hash_buckets) != (old.kind, old.max_len, old.target, old.hash_buckets):
            return f"field {new.name!r} changed its kind, length or hash buckets"
        if new.vocab_size < old.vocab_size:
            return f"field {new.name!r} has {new.vocab_size} rows, fewer than the {old.vocab_size} it was fitted with"
        if new == old and (not new.digest or new.digest == old.digest):
            continue
        if not (old.lineage and old.lineage[-1] in new.lineage):
            return (f"field {new.name!r} was encoded by a FieldEncoder fitted afresh, not grown from the one the "
                    "model learned (its vocabulary lineage does not contain the model's)")
    return None


def field_spec_of(X) -> FieldSpec | None:
    """The FieldSpec that encoded ``X`` carries, or None for raw input."""
    spec = getattr(X, "field_spec", None)
    if spec is None:
        attrs = getattr(X, "attrs", None)
        if isinstance(attrs, dict):
            spec = attrs.get(SPEC_ATTR)
    if spec is not None and not isinstance(spec, FieldSpec):
        return None
    if spec is not None and getattr(X, "shape", (0, -1))[1] != spec.n_columns:
        return None
    return spec
