"""Constraints in scikit-learn's parameter-validation vocabulary that its own set lacks.

Every skctr estimator and transformer declares ``_parameter_constraints``
from these and scikit-learn's ``Interval``/``StrOptions``; scikit-learn's
machinery checks them in ``fit``, and an invalid value fails with an error
that names the parameter, the class and what it accepts.
"""
from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, Options


class Predicate(Options):
    """A constraint decided by ``is_satisfied_by``; built on ``Options``, a type scikit-learn's validation accepts."""

    def __init__(self):
        super().__init__(object, set())


class PositiveIntSequence(Predicate):
    """A non-empty list or tuple of positive integers, such as ``(400, 400, 400)``."""

    def is_satisfied_by(self, val):
        return (
            isinstance(val, Sequence) and not isinstance(val, (str, bytes)) and len(val) > 0
            and all(isinstance(u, Integral) and not isinstance(u, bool) and u > 0 for u in val)
        )

    def __str__(self):
        return "a non-empty sequence of positive integers such as (400, 400, 400)"


class StrictInterval(Interval):
    """An :class:`Interval` that refuses booleans and non-finite numbers: ``max_epochs=True`` is a mistake, not 1."""

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)) or (isinstance(val, Real) and not np.isfinite(val)):
            return False
        return super().is_satisfied_by(val)


def interval(kind, left, right, closed: str) -> StrictInterval:
    return StrictInterval(kind, left, right, closed=closed)


def positive(kind) -> StrictInterval:
    return interval(Real, 0, None, "neither") if kind is Real else interval(Integral, 1, None, "left")


def non_negative() -> StrictInterval:
    return interval(Real, 0, None, "left")


class NonEmptyString(Predicate):
    def is_satisfied_by(self, val):
        return isinstance(val, str) and len(val) > 0

    def __str__(self):
        return "a non-empty str"


class FloatDtype(Predicate):
    """``np.float32`` or ``np.float64`` (or anything ``np.dtype`` reads as one of them)."""

    def is_satisfied_by(self, val):
        try:
            return val is not None and np.dtype(val) in (np.float32, np.float64)
        except TypeError:
            return False

    def __str__(self):
        return "np.float32 or np.float64"
