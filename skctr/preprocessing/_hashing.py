"""Stable hashing of categorical values into a fixed number of buckets (FieldEncoder's ``hash_buckets``).

A value's bucket is ``murmurhash3_32(key, seed=0, positive=True) % buckets``
(MurmurHash3 x86_32 of the key's UTF-8 bytes, as unsigned), the same on every
platform and in every language that implements MurmurHash3. The key is the
value's text, chosen so that values equal under Python equality, the rule
vocabularies match by, share a key: ``3``, ``3.0`` and ``True == 1`` hash
alike, as do an integer and its exact decimal text ("3"), which a vocabulary
of integers also converts.
"""
from __future__ import annotations

import numbers

import numpy as np
from sklearn.utils import murmurhash3_32


def hash_key(value) -> str:
    """The text ``value`` is hashed by: strings as they are, integers, booleans (1, 0) and integral floats in
    decimal, other floats as ``repr``; a TypeError for anything else."""
    if isinstance(value, str):
        return value
    if isinstance(value, (numbers.Integral, np.bool_)):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    raise TypeError(f"a {type(value).__name__} value ({value!r}) has no hash key; hashed values must be strings, "
                    "numbers or booleans")


def hash_bucket(value, buckets: int) -> int:
    """The bucket in ``[0, buckets)`` of one value."""
    return murmurhash3_32(hash_key(value), seed=0, positive=True) % buckets


def hash_buckets_of(values, buckets: int, column) -> np.ndarray:
    """The bucket of each of ``values`` (distinct, non-missing); a TypeError names ``column`` for unhashable ones."""
    try:
        return np.fromiter((hash_bucket(v, buckets) for v in np.asarray(values, dtype=object).tolist()),
                           dtype=np.int64, count=len(values))
    except TypeError as exc:
        raise TypeError(f"Column {column!r}: {exc}.") from None
