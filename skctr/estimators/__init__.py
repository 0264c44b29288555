"""scikit-learn estimators over skorch."""
from .cetnet import CETNetClassifier
from .final import FINALClassifier
from .kdef import KDEFClassifier
from .student import StudentClassifier
from .tf4ctr import TF4CTRClassifier

__all__ = ["CETNetClassifier", "FINALClassifier", "KDEFClassifier", "StudentClassifier", "TF4CTRClassifier"]
