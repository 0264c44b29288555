"""scikit-learn estimators over skorch."""
from .final import FINALClassifier
from .kdef import KDEFClassifier
from .student import StudentClassifier

__all__ = ["FINALClassifier", "KDEFClassifier", "StudentClassifier"]
