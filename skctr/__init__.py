"""skctr: ensemble CTR prediction as scikit-learn estimators.

Estimators: :class:`KDEFClassifier` (knowledge-driven ensemble),
:class:`TF4CTRClassifier` (twin focus), :class:`CETNetClassifier`
(collaborative ensemble, one embedding table per component),
:class:`FINALClassifier` (FINAL 1B/2B) and :class:`StudentClassifier` (one
network alone). Input: a raw DataFrame, or the output of :class:`FieldEncoder`.

The names below are imported on first use, so ``import skctr.nn`` (pure
torch) does not load scikit-learn, skorch or pandas.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "CETNetClassifier": "skctr.estimators",
    "FINALClassifier": "skctr.estimators",
    "KDEFClassifier": "skctr.estimators",
    "StudentClassifier": "skctr.estimators",
    "TF4CTRClassifier": "skctr.estimators",
    "FieldEncoder": "skctr.preprocessing",
    "make_ctr": "skctr.datasets",
}

__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'skctr' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
