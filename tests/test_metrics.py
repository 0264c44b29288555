"""Group AUC and normalized entropy against hand computation and a per-group loop."""
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from skctr.metrics import binary_scores, gauc, normalized_entropy


def gauc_by_loop(y, p, groups):
    """Reference: one roc_auc_score per group that holds both classes, weighted by its rows."""
    rows_of = {}
    for row, g in enumerate(groups):
        rows_of.setdefault(g, []).append(row)
    total, weight = 0.0, 0
    for rows in rows_of.values():
        if len(np.unique(y[rows])) == 2:
            total += len(rows) * roc_auc_score(y[rows], p[rows])
            weight += len(rows)
    return total / weight


@pytest.mark.parametrize("seed", range(3))
def test_gauc_equals_the_per_group_loop(seed):
    rng = np.random.RandomState(seed)
    n = 1500
    # 50 groups of ~30 rows, plus ~250 tiny groups (1 to 3 rows, often one class) mixed in.
    groups = np.where(rng.rand(n) < 0.8, rng.randint(0, 50, n), rng.randint(1000, 1250, n))
    y = rng.binomial(1, 0.3, n)
    p = np.round(rng.rand(n) * 0.6 + 0.3 * y, 1)  # rounded: many ties within groups
    expected = gauc_by_loop(y, p, groups)
    assert gauc(y, p, groups) == pytest.approx(expected, rel=1e-12)
    names = np.array([f"user-{g}" for g in groups], dtype=object)
    assert gauc(pd.Series(y), list(p), pd.Series(names)) == pytest.approx(expected, rel=1e-12)
    assert gauc(list(y), p, list(names)) == pytest.approx(expected, rel=1e-12)
    shuffled = rng.permutation(n)  # the row order does not matter
    assert gauc(y[shuffled], p[shuffled], names[shuffled]) == pytest.approx(expected, rel=1e-12)


def test_gauc_by_hand():
    # Group a: the click outranks both non-clicks (AUC 1), 3 rows. Group b: one click above and one below
    # the non-click (AUC 1/2), 3 rows. Group c: clicks only, skipped with its rows. (3 * 1 + 3 * 0.5) / 6 = 0.75.
    y = [1, 0, 0, 1, 0, 1, 1, 1]
    p = [0.9, 0.2, 0.4, 0.3, 0.5, 0.7, 0.1, 0.2]
    groups = ["a", "a", "a", "b", "b", "b", "c", "c"]
    # Counting group c's 2 rows in the weights would give 4.5 / 8 = 0.5625 instead.
    assert gauc(y, p, groups) == pytest.approx(0.75)


def test_gauc_single_class_groups_carry_no_weight():
    # Group 0: AUC 1 on 2 rows. Group 1: AUC 0 on 4 rows -> (2 * 1 + 4 * 0) / 6 = 1/3.
    y = np.array([1, 0, 0, 0, 1, 1])
    p = np.array([0.9, 0.1, 0.8, 0.7, 0.2, 0.3])
    groups = np.array([0, 0, 1, 1, 1, 1])
    assert gauc(y, p, groups) == pytest.approx(1 / 3)
    # A heavy group of non-clicks only (group 2) changes nothing.
    y_more, p_more = np.concatenate([y, np.zeros(100, int)]), np.concatenate([p, np.linspace(0, 1, 100)])
    assert gauc(y_more, p_more, np.concatenate([groups, np.full(100, 2)])) == pytest.approx(1 / 3)


def test_gauc_keeps_distinct_hashables_apart():
    # 1 and "1" are two groups, each with AUC 1 on 2 rows. Pooled, the click at 0.6 would sit below the
    # non-click at 0.7: AUC 3/4.
    y, p = [1, 0, 1, 0], [0.6, 0.1, 0.9, 0.7]
    assert gauc(y, p, ["g", "g", "g", "g"]) == pytest.approx(0.75)
    assert gauc(y, p, [1, 1, "1", "1"]) == pytest.approx(1.0)
    assert gauc(y, p, [(1, 2), (1, 2), (3, 4), (3, 4)]) == pytest.approx(1.0)


def test_gauc_one_group_is_the_auc_and_no_usable_group_is_nan():
    rng = np.random.RandomState(0)
    y, p = rng.binomial(1, 0.5, 500), rng.rand(500)
    assert gauc(y, p, np.zeros(500)) == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    assert math.isnan(gauc([1, 1, 0], [0.2, 0.3, 0.4], ["a", "a", "b"]))
    assert math.isnan(gauc([], [], []))


@pytest.mark.parametrize("args, message", [
    (([1, 0], [0.5], ["a", "a"]), "must match"),
    (([1, 0], [0.5, 0.2], ["a"]), "groups has 1"),
    (([1, 2], [0.5, 0.2], ["a", "a"]), "0/1"),
    (([1, 0], [0.5, float("nan")], ["a", "a"]), "NaN"),
    (([1, 0], [0.5, 0.2], ["a", None]), "missing"),
    (([1, 0], [0.5, 0.2], np.array([1.0, np.nan])), "missing"),
])
def test_gauc_input_errors(args, message):
    with pytest.raises(ValueError, match=message):
        gauc(*args)


def test_normalized_entropy_by_hand():
    # Base rate 1/4: entropy H = -(0.25 ln 0.25 + 0.75 ln 0.75) = 0.562335.
    # Predictions 0.5 everywhere: logloss ln 2 = 0.693147, NE = 1.232616.
    assert normalized_entropy([1, 0, 0, 0], [0.5] * 4) == pytest.approx(math.log(2) / 0.5623351446188083, rel=1e-9)
    assert normalized_entropy([1, 0, 0, 0], [0.25] * 4) == pytest.approx(1.0)
    rng = np.random.RandomState(0)
    y = rng.binomial(1, 0.2, 1000)
    better = np.clip(0.2 + 0.5 * (y - 0.2), 0.01, 0.99)
    assert normalized_entropy(y, better) < 1.0


def test_normalized_entropy_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        normalized_entropy([1, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="both classes"):
        normalized_entropy([], [])
    with pytest.raises(ValueError, match="must match"):
        normalized_entropy([1, 0], [0.5])


def test_binary_scores_clip_like_fuxictr():
    auc, logloss = binary_scores([1, 0], [1.0, 0.0])
    assert auc == 1.0 and logloss == pytest.approx(-math.log(1 - 1e-7), rel=1e-6)
