"""The parameter table every estimator shares (``_parameter_constraints``).

Each estimator's ``_parameter_constraints`` is this table plus its own rows;
``fit`` (and :meth:`validate_params`) checks them through scikit-learn's
machinery. Rules that tie parameters together live in the estimators'
``_check_params``.
"""
from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import StrOptions

import torch

from .._validation import PositiveIntSequence, Predicate, interval, non_negative, positive
from ._net import MIXED_PRECISION

class TorchDevice(Predicate):
    """A device name torch understands (``"cpu"``, ``"cuda"``, ``"cuda:1"``) or a ``torch.device``."""

    def is_satisfied_by(self, val):
        try:
            torch.device(val)
        except (RuntimeError, TypeError, ValueError):
            return False
        return True

    def __str__(self):
        return "a torch device such as 'cpu', 'cuda' or 'cuda:1'"


CORE_CONSTRAINTS = {
    "embedding_dim": [positive(Integral)],
    "hidden_units": [PositiveIntSequence()],
    "dropout": [interval(Real, 0, 1, "left")],
    "batch_norm": [StrOptions({"auto"}), "boolean"],
    "lr": [positive(Real)],
    "batch_size": [StrOptions({"auto"}), positive(Integral)],
    "max_epochs": [positive(Integral)],
    "patience": [positive(Integral)],
    "embedding_l2": [non_negative()],
    "valid_size": [interval(Real, 0, 1, "neither")],
    "class_weight": [None, StrOptions({"balanced"}), dict],
    "negative_sampling_rate": [None, interval(Real, 0, 1, "right")],
    "calibrate": ["boolean"],
    "warm_start": ["boolean"],
    "sparse_embeddings": [StrOptions({"auto"}), "boolean"],
    "device": [StrOptions({"auto"}), TorchDevice()],
    "mixed_precision": [None, StrOptions(set(MIXED_PRECISION))],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
    "callbacks": [None, list, tuple],
}

#: Rows of the ensembles' tables (KDEF, TF4CTR, CETNet, FINAL) that a single network has no use for.
ENSEMBLE_CONSTRAINTS = {
    "prediction": [StrOptions({"auto", "ensemble", "best_student"})],
}
