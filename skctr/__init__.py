"""skctr: ensemble CTR prediction as scikit-learn estimators."""

__version__ = "0.1.0"
