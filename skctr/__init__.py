"""skctr: ensemble CTR prediction as scikit-learn estimators.

Estimators: :class:`KDEFClassifier` (knowledge-driven ensemble),
:class:`TF4CTRClassifier` (twin focus), :class:`CETNetClassifier`
(collaborative ensemble, one embedding table per component),
:class:`FINALClassifier` (FINAL 1B/2B) and :class:`StudentClassifier` (one
network alone). Input: a raw DataFrame, or the output of :class:`FieldEncoder`.
"""
from .datasets import make_ctr
from .estimators import CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier
from .preprocessing import FieldEncoder

__version__ = "0.1.0"

__all__ = [
    "CETNetClassifier",
    "FINALClassifier",
    "FieldEncoder",
    "KDEFClassifier",
    "StudentClassifier",
    "TF4CTRClassifier",
    "make_ctr",
    "__version__",
]
