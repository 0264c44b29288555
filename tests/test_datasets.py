"""Tests for skctr.datasets.make_ctr."""
from __future__ import annotations

import doctest
import itertools

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from skctr.datasets import _synthetic, make_ctr

SMALL = dict(n_fields=4, cardinality=(5, 30), n_pairs=6, n_triples=0)


def onehot_lr_auc(X, y, n_train, C=1.0):
    """Held-out AUC of a logistic regression on the one-hot encoded columns of X."""
    encoder = OneHotEncoder(handle_unknown="ignore")
    train = encoder.fit_transform(X.iloc[:n_train])
    test = encoder.transform(X.iloc[n_train:])
    model = LogisticRegression(C=C, max_iter=1000).fit(train, y.iloc[:n_train])
    return roc_auc_score(y.iloc[n_train:], model.predict_proba(test)[:, 1])


def with_pair_crosses(X):
    """X as strings plus one column per field pair holding the crossed values."""
    X = X.astype(str)
    crosses = {f"{a}*{b}": X[a] + "|" + X[b] for a, b in itertools.combinations(X.columns, 2)}
    return pd.concat([X, pd.DataFrame(crosses)], axis=1)


# --------------------------------------------------------------------------- #
# Output format
# --------------------------------------------------------------------------- #
def test_frame_output():
    X, y = make_ctr(500, n_fields=6, n_pairs=3, n_triples=2, n_numeric=2, random_state=0)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert X.shape == (500, 8) and y.shape == (500,)
    assert list(X.columns) == ["f0", "f1", "f2", "f3", "f4", "f5", "n0", "n1"]
    assert y.name == "click" and y.dtype == np.int8
    assert set(np.unique(y)) <= {0, 1}
    assert X.index.equals(y.index)
    for f in range(6):
        column = X[f"f{f}"]
        assert isinstance(column.dtype, pd.CategoricalDtype)
        assert all(str(v).startswith(f"f{f}_v") for v in column.cat.categories)
    for name in ("n0", "n1"):
        assert X[name].dtype == np.float64
        assert (X[name] > 0).all()
    assert not X.isna().any().any()


def test_array_output_matches_frame():
    kwargs = dict(n_fields=5, n_pairs=2, n_triples=1, n_numeric=2, missing_rate=0.2, random_state=3)
    X, y = make_ctr(300, as_frame=False, **kwargs)
    frame, series = make_ctr(300, **kwargs)
    assert isinstance(X, np.ndarray) and X.dtype == object and X.shape == (300, 7)
    assert isinstance(y, np.ndarray) and y.dtype == np.int8
    np.testing.assert_array_equal(y, series.to_numpy())
    categorical, numeric = X[:, :5], X[:, 5:].astype(float)
    missing = frame.iloc[:, :5].isna().to_numpy()
    assert all(v is None for v in categorical[missing])
    assert all(isinstance(v, str) for v in categorical[~missing])
    np.testing.assert_array_equal(categorical[~missing], frame.iloc[:, :5].astype(object).to_numpy()[~missing])
    np.testing.assert_array_equal(numeric, frame.iloc[:, 5:].to_numpy())


def test_return_truth():
    X, y, proba = make_ctr(1000, n_numeric=1, missing_rate=0.1, return_truth=True, random_state=0)
    assert isinstance(proba, np.ndarray) and proba.shape == (1000,) and proba.dtype == np.float64
    assert ((proba > 0) & (proba < 1)).all()
    X2, y2 = make_ctr(1000, n_numeric=1, missing_rate=0.1, random_state=0)
    pd.testing.assert_frame_equal(X, X2)
    pd.testing.assert_series_equal(y, y2)


def test_docstring_examples():
    result = doctest.testmod(_synthetic, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# --------------------------------------------------------------------------- #
# Randomness
# --------------------------------------------------------------------------- #
def test_deterministic_per_seed_and_different_across_seeds():
    kwargs = dict(n_numeric=1, missing_rate=0.1, return_truth=True)
    X1, y1, p1 = make_ctr(2000, random_state=7, **kwargs)
    X2, y2, p2 = make_ctr(2000, random_state=7, **kwargs)
    pd.testing.assert_frame_equal(X1, X2)
    pd.testing.assert_series_equal(y1, y2)
    np.testing.assert_array_equal(p1, p2)
    X3, y3, p3 = make_ctr(2000, random_state=8, **kwargs)
    assert not np.array_equal(p1, p3)
    assert not X1.astype(object).equals(X3.astype(object))


def test_random_state_kinds():
    a, _ = make_ctr(200, random_state=np.random.RandomState(0))
    b, _ = make_ctr(200, random_state=np.random.RandomState(0))
    pd.testing.assert_frame_equal(a, b)
    a, _ = make_ctr(200, random_state=np.random.default_rng(0))
    b, _ = make_ctr(200, random_state=np.random.default_rng(0))
    pd.testing.assert_frame_equal(a, b)
    rng = np.random.default_rng(0)  # a Generator is advanced: successive calls differ
    _, _, p1 = make_ctr(200, random_state=rng, return_truth=True)
    _, _, p2 = make_ctr(200, random_state=rng, return_truth=True)
    assert not np.array_equal(p1, p2)


def test_rows_do_not_depend_on_n_samples():
    kwargs = dict(n_numeric=2, missing_rate=0.2, return_truth=True, random_state=5)
    X1, y1, p1 = make_ctr(1000, **kwargs)
    X2, y2, p2 = make_ctr(2500, **kwargs)
    pd.testing.assert_frame_equal(X1, X2.iloc[:1000])
    pd.testing.assert_series_equal(y1, y2.iloc[:1000])
    np.testing.assert_allclose(p1, p2[:1000])


# --------------------------------------------------------------------------- #
# Marginal properties
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("click_rate", [0.03, 0.2, 0.6])
def test_click_rate(click_rate):
    _, y, proba = make_ctr(40_000, click_rate=click_rate, return_truth=True, random_state=1)
    assert abs(proba.mean() - click_rate) < 0.006
    assert abs(y.mean() - click_rate) < 0.015


def test_missing_rate():
    X, _ = make_ctr(20_000, n_numeric=2, missing_rate=0.3, random_state=2)
    np.testing.assert_allclose(X.isna().mean().to_numpy(), 0.3, atol=0.02)
    # with the same seed, missingness only blanks cells
    full, _ = make_ctr(20_000, n_numeric=2, missing_rate=0.0, random_state=2)
    assert not full.isna().any().any()
    seen = X.notna().to_numpy()
    np.testing.assert_array_equal(X.astype(object).to_numpy()[seen], full.astype(object).to_numpy()[seen])


def test_cardinality_range():
    X, _ = make_ctr(5000, n_fields=12, n_pairs=0, n_triples=0, cardinality=(3, 40), random_state=0)
    sizes = [X[c].cat.categories.size for c in X]
    assert all(3 <= s <= 40 for s in sizes)
    assert len(set(sizes)) > 3  # drawn per field
    for c in X:
        assert X[c].cat.codes.max() < X[c].cat.categories.size


def test_cardinality_int_and_list():
    X, _ = make_ctr(3000, n_fields=3, n_pairs=1, n_triples=0, cardinality=7, random_state=0)
    assert [X[c].cat.categories.size for c in X] == [7, 7, 7]
    assert all(X[c].nunique() == 7 for c in X)
    X, _ = make_ctr(3000, n_fields=3, n_pairs=1, n_triples=0, cardinality=[2, 5, 300], random_state=0)
    assert [X[c].cat.categories.size for c in X] == [2, 5, 300]
    assert X["f0"].nunique() == 2 and X["f2"].nunique() <= 300


def test_zipf_skew():
    kwargs = dict(n_fields=2, n_pairs=0, n_triples=0, cardinality=50, random_state=0)
    flat, _ = make_ctr(20_000, zipf=0.0, **kwargs)
    skewed, _ = make_ctr(20_000, zipf=1.5, **kwargs)
    top_flat = flat["f0"].value_counts(normalize=True).iloc[0]
    top_skewed = skewed["f0"].value_counts(normalize=True).iloc[0]
    assert top_flat < 0.04  # uniform: 1/50
    assert top_skewed > 0.3  # 1 / H(50, 1.5) ~ 0.40
    assert skewed["f0"].value_counts().iloc[-1] < 30  # a long tail of rare values


def test_no_signal_gives_constant_probability():
    _, _, proba = make_ctr(
        1000, interaction_strength=0.0, main_effect_strength=0.0, click_rate=0.3,
        return_truth=True, random_state=0,
    )
    np.testing.assert_allclose(proba, 0.3, atol=1e-6)


def test_numeric_effect_is_monotone():
    X, _, proba = make_ctr(
        3000, n_fields=1, cardinality=2, n_pairs=0, n_triples=0, n_numeric=1, noise=0.5,
        return_truth=True, random_state=4,
    )
    group = (X["f0"] == X["f0"].iloc[0]).to_numpy()
    order = np.argsort(X["n0"].to_numpy()[group])
    steps = np.diff(proba[group][order])
    assert (steps >= -1e-12).all() or (steps <= 1e-12).all()
    assert np.ptp(proba[group]) > 0.1  # the numeric column matters


# --------------------------------------------------------------------------- #
# Signal: planted interactions matter and can be learnt
# --------------------------------------------------------------------------- #
def test_truth_beats_additive_model_at_defaults():
    # Measured with random_state=0: Bayes AUC 0.864 on the held-out rows,
    # one-hot logistic regression 0.625 (seeds 0-9: Bayes 0.857-0.869, LR 0.625-0.672).
    X, y, proba = make_ctr(50_000, return_truth=True, random_state=0)
    n_train = 35_000
    bayes = roc_auc_score(y.iloc[n_train:], proba[n_train:])
    additive = onehot_lr_auc(X, y, n_train)
    assert bayes > 0.80
    assert bayes - additive > 0.10


def test_pair_crosses_beat_additive_model():
    # Four fields with every pair planted: one-hot crosses of the pairs capture the
    # interactions. Measured with random_state=0: LR 0.685, LR with crosses 0.842,
    # Bayes 0.875 (seeds 0-9: gain of the crosses 0.135-0.190).
    X, y, proba = make_ctr(30_000, return_truth=True, random_state=0, **SMALL)
    n_train = 20_000
    additive = onehot_lr_auc(X, y, n_train)
    crossed = onehot_lr_auc(with_pair_crosses(X), y, n_train, C=0.3)
    bayes = roc_auc_score(y.iloc[n_train:], proba[n_train:])
    assert crossed - additive > 0.08
    assert bayes >= crossed - 0.01


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(n_samples=0), "n_samples"),
        (dict(n_samples=10.5), "n_samples"),
        (dict(n_fields=0), "n_fields"),
        (dict(n_fields=True), "n_fields"),
        (dict(cardinality=1), "cardinality"),
        (dict(cardinality=(5,)), "cardinality"),
        (dict(cardinality=(50, 5)), "cardinality"),
        (dict(cardinality=(1, 5)), "cardinality"),
        (dict(cardinality=[5, 6]), "cardinality"),
        (dict(cardinality="large"), "cardinality"),
        (dict(click_rate=0.0), "click_rate"),
        (dict(click_rate=1.0), "click_rate"),
        (dict(click_rate=float("nan")), "click_rate"),
        (dict(n_pairs=-1), "n_pairs"),
        (dict(n_pairs=46), "n_pairs"),
        (dict(n_fields=2, n_triples=0), "n_pairs"),
        (dict(n_triples=-1), "n_triples"),
        (dict(n_triples=121), "n_triples"),
        (dict(interaction_strength=-1.0), "interaction_strength"),
        (dict(interaction_strength=float("inf")), "interaction_strength"),
        (dict(main_effect_strength=-0.1), "main_effect_strength"),
        (dict(main_effect_strength="big"), "main_effect_strength"),
        (dict(noise=-1.0), "noise"),
        (dict(zipf=-0.5), "zipf"),
        (dict(missing_rate=1.0), "missing_rate"),
        (dict(missing_rate=-0.1), "missing_rate"),
        (dict(n_numeric=-1), "n_numeric"),
        (dict(as_frame="yes"), "as_frame"),
        (dict(return_truth=1), "return_truth"),
        (dict(random_state=-3), "random_state"),
        (dict(random_state="seed"), "random_state"),
    ],
)
def test_invalid_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        make_ctr(**{"n_samples": 10, **kwargs})


def test_small_valid_configurations():
    X, y = make_ctr(1, n_fields=1, n_pairs=0, n_triples=0, random_state=0)
    assert X.shape == (1, 1) and y.shape == (1,)
    X, y = make_ctr(50, n_fields=3, n_pairs=3, n_triples=1, noise=0.0, zipf=0.0, random_state=0)
    assert X.shape == (50, 3)
