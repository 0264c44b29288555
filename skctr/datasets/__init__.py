"""Data sets for trying out skctr estimators."""
from ._synthetic import make_ctr

__all__ = ["make_ctr"]
