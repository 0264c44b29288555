"""Shared fixtures: real data sets from ../shared/data, skipped cleanly when absent."""
from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch

DATA_DIR = Path(os.environ.get("SKCTR_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def load_split(name: str, split: str) -> pd.DataFrame:
    """Read one split of a shared data set, skipping the test when it is absent."""
    path = DATA_DIR / name / f"{split}.parquet"
    if not path.exists():
        pytest.skip(f"real data not available at {path}")
    return pd.read_parquet(path)


@pytest.fixture(autouse=True)
def _one_torch_thread(request):
    """Tiny models on one thread: with the cores shared, torch's intra-op threads spin and a small fit
    takes seconds instead of a fraction of one. Real-data tests keep every thread."""
    if request.node.get_closest_marker("realdata"):
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def check_grid_search(search, X, y, param: str, values) -> None:
    """Assertions that hold only if a fitted GridSearchCV over ``param`` really searched.

    Every candidate was scored on every split (finite scores in [0, 1]); the
    candidates scored differently (the parameter reached the model); the best
    index, score and parameters are those of the highest mean test score; and
    the refitted model carries the best value and is the model one gets by
    fitting the pipeline with it on all of ``X`` (same seed, so equal).
    """
    import numpy as np
    from sklearn.base import clone

    results = search.cv_results_
    assert [candidate[param] for candidate in results["params"]] == list(values)
    means = np.asarray(results["mean_test_score"], dtype=float)
    assert means.shape == (len(values),) and np.isfinite(means).all()
    for split in range(search.n_splits_):
        split_scores = np.asarray(results[f"split{split}_test_score"], dtype=float)
        assert np.isfinite(split_scores).all() and ((split_scores >= 0) & (split_scores <= 1)).all()
    assert len(set(means.tolist())) == len(values), f"every candidate scored the same: {means}"
    assert search.best_index_ == int(np.argmax(means))
    assert search.best_score_ == means.max()
    assert search.best_params_ == results["params"][search.best_index_]
    refit = search.best_estimator_
    assert refit.get_params()[param] == search.best_params_[param]
    direct = clone(search.estimator).set_params(**search.best_params_).fit(X, y)
    head = X.iloc[:200] if hasattr(X, "iloc") else X[:200]
    np.testing.assert_array_equal(refit.predict_proba(head), direct.predict_proba(head))
