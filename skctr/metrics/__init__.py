"""CTR metrics: AUC and logloss, group AUC and normalized entropy."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

# Probabilities are clipped here before the logloss, as FuxiCTR's evaluation does.
_LOGLOSS_EPS = 1e-7


def binary_scores(y, probability, sample_weight=None) -> tuple[float, float]:
    """``(AUC, logloss)`` of click probabilities, with FuxiCTR's clipping.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        0/1 labels.
    probability : array-like of shape (n_samples,)
        Click probabilities, clipped to ``[1e-7, 1 - 1e-7]`` first.
    sample_weight : array-like of shape (n_samples,), optional
        Per-row weights for both scores, as scikit-learn's metrics take them.

    Returns
    -------
    auc : float
        ROC AUC, or NaN when ``y`` has one class.
    logloss : float
        Mean binary cross-entropy (natural log).

    Examples
    --------
    >>> from skctr.metrics import binary_scores
    >>> auc, logloss = binary_scores([1, 0, 1, 0], [0.8, 0.3, 0.6, 0.4])
    >>> auc, round(logloss, 4)
    (1.0, 0.4004)
    """
    y = np.asarray(y)
    probability = np.clip(np.asarray(probability, dtype=np.float64), _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    auc = roc_auc_score(y, probability, sample_weight=sample_weight) if np.unique(y).size == 2 else float("nan")
    return float(auc), float(log_loss(y, probability, labels=[0, 1], sample_weight=sample_weight))


def _binary_labels(y_true, y_score, *, names=("y_true", "y_score")):
    y = np.asarray(y_true).ravel()
    score = np.asarray(y_score, dtype=np.float64).ravel()
    if y.shape[0] != score.shape[0]:
        raise ValueError(f"{names[0]} has {y.shape[0]} entries but {names[1]} has {score.shape[0]}; they must match.")
    if np.isnan(score).any():
        raise ValueError(f"{names[1]} contains NaN at rows {np.flatnonzero(np.isnan(score))[:5].tolist()}.")
    values = np.unique(y)
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"{names[0]} must hold 0/1 labels, got values {values[:10].tolist()}.")
    return y.astype(np.int8), score


def _group_codes(groups, n_rows):
    """Integer codes ``0..n_groups-1`` of the group of every row, and ``n_groups``."""
    if isinstance(groups, np.ndarray):
        groups = groups.ravel()
    elif not isinstance(groups, (pd.Series, pd.Index)):
        groups = pd.Series(list(groups))  # keeps 1 and "1" apart; tuples stay single keys
    if len(groups) != n_rows:
        raise ValueError(f"groups has {len(groups)} entries but y_true has {n_rows}; they must match.")
    codes, uniques = pd.factorize(groups)
    if n_rows and codes.min() < 0:
        raise ValueError(f"groups contains missing values (None/NaN) at rows {np.flatnonzero(codes < 0)[:5].tolist()}.")
    return codes.astype(np.intp, copy=False), len(uniques)


def gauc(y_true, y_score, groups) -> float:
    """Group AUC: the AUC within each group, weighted by the group's number of rows.

    ``sum_g n_g AUC_g / sum_g n_g`` over the groups that hold both classes
    (groups with only clicks or only non-clicks have no AUC and are left out,
    rows included), as in the DIN paper and FuxiCTR. Ties within a group
    count one half, as in :func:`sklearn.metrics.roc_auc_score`.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels.
    y_score : array-like of shape (n_samples,)
        Scores or probabilities; only their order within a group matters.
    groups : array-like of shape (n_samples,)
        The group of every row (typically the user id); any hashable values.

    Returns
    -------
    float
        The group AUC, or NaN when no group holds both classes.

    Raises
    ------
    ValueError
        When the lengths differ, ``y_true`` holds values other than 0/1,
        ``y_score`` holds NaN or ``groups`` holds missing values (None/NaN).

    Examples
    --------
    >>> from skctr.metrics import gauc
    >>> gauc([1, 0, 0, 1, 0, 1], [0.9, 0.2, 0.4, 0.3, 0.5, 0.7], ["a", "a", "a", "b", "b", "b"])
    0.75
    """
    y, score = _binary_labels(y_true, y_score)
    codes, n_groups = _group_codes(groups, y.shape[0])
    if n_groups == 0:
        return float("nan")
    # Sort by (group, score): two stable sorts, the second on the group code.
    order = np.argsort(score, kind="stable")
    order = order[np.argsort(codes[order], kind="stable")]
    codes, score, y = codes[order], score[order], y[order]
    # Runs of equal (group, score) share the average of their positions, as ties do in roc_auc_score.
    new_group = np.empty(codes.shape[0], dtype=bool)
    new_group[0] = True
    np.not_equal(codes[1:], codes[:-1], out=new_group[1:])
    new_run = new_group.copy()
    new_run[1:] |= score[1:] != score[:-1]
    run_starts = np.flatnonzero(new_run)
    run_ends = np.append(run_starts[1:], codes.shape[0])  # exclusive
    run_of_row = np.cumsum(new_run) - 1
    mean_position = (run_starts + run_ends - 1) / 2.0
    # Factorized codes are 0..n_groups-1 and now ascend, so group k starts at the k-th group boundary.
    group_starts = np.flatnonzero(new_group)
    rank = mean_position[run_of_row] - group_starts[codes] + 1.0  # 1-based rank within the group
    n = np.bincount(codes, minlength=n_groups).astype(np.float64)
    n_pos = np.bincount(codes, weights=y, minlength=n_groups)
    n_neg = n - n_pos
    # A positive's rank counts itself, the positives below it and the negatives below it (ties one half).
    positive_rank_sum = np.bincount(codes, weights=rank * y, minlength=n_groups)
    scored = (n_pos > 0) & (n_neg > 0)
    if not scored.any():
        return float("nan")
    n_pos, n_neg, n = n_pos[scored], n_neg[scored], n[scored]
    auc = (positive_rank_sum[scored] - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float(np.sum(n * auc) / np.sum(n))


def normalized_entropy(y_true, y_score) -> float:
    """Logloss divided by the entropy of the base click rate (Meta's NE; lower is better, 1 is the base rate).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        0/1 labels, both present.
    y_score : array-like of shape (n_samples,)
        Click probabilities, clipped to ``[1e-7, 1 - 1e-7]``.

    Returns
    -------
    float
        ``logloss / H(p)`` with ``p`` the mean of ``y_true`` and
        ``H(p) = -(p ln p + (1 - p) ln(1 - p))``; 1.0 for predicting ``p`` on every row.

    Raises
    ------
    ValueError
        When ``y_true`` is empty or has one class (``H(p) = 0``), the lengths
        differ, ``y_true`` holds values other than 0/1 or ``y_score`` holds NaN.

    Examples
    --------
    >>> from skctr.metrics import normalized_entropy
    >>> normalized_entropy([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25])
    1.0
    """
    y, score = _binary_labels(y_true, y_score)
    rate = y.mean() if y.size else 0.0
    if rate in (0.0, 1.0):
        raise ValueError("normalized_entropy needs both classes in y_true: the base-rate entropy of one class is 0.")
    base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    p = np.clip(score, _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(logloss / base)


__all__ = ["binary_scores", "gauc", "normalized_entropy"]
