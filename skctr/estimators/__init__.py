"""scikit-learn estimators over skorch."""
from .kdef import KDEFClassifier
from .student import StudentClassifier

__all__ = ["KDEFClassifier", "StudentClassifier"]
