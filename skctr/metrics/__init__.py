"""CTR metrics: AUC and logloss, group AUC and normalized entropy."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

# Probabilities are clipped here before the logloss, as FuxiCTR's evaluation does.
_LOGLOSS_EPS = 1e-7


def binary_scores(y, probability) -> tuple[float, float]:
    """``(AUC, logloss)`` of click probabilities; AUC is NaN when ``y`` has one class."""
    y = np.asarray(y)
    probability = np.clip(np.asarray(probability, dtype=np.float64), _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    auc = roc_auc_score(y, probability) if np.unique(y).size == 2 else float("nan")
    return float(auc), float(log_loss(y, probability, labels=[0, 1]))


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

    Examples
    --------
    >>> from skctr.metrics import gauc
    >>> gauc([1, 0, 0, 1, 0, 1], [0.9, 0.2, 0.4, 0.3, 0.5, 0.7], ["a", "a", "a", "b", "b", "b"])
    0.75
    """
    y, score = _binary_labels(y_true, y_score)
    groups = np.asarray(groups, dtype=object).ravel() if not isinstance(groups, pd.Series) else groups.to_numpy()
    if groups.shape[0] != y.shape[0]:
        raise ValueError(f"groups has {groups.shape[0]} entries but y_true has {y.shape[0]}; they must match.")
    frame = pd.DataFrame({"group": pd.factorize(groups)[0], "y": y.astype(np.int64), "score": score})
    # Average ranks within each group: a positive's rank counts the negatives below it (ties one half).
    frame["rank"] = frame.groupby("group")["score"].rank(method="average")
    per_group = frame.groupby("group").agg(n=("y", "size"), positives=("y", "sum"))
    per_group["rank_sum"] = frame["rank"].where(frame["y"] == 1, 0.0).groupby(frame["group"]).sum()
    negatives = per_group["n"] - per_group["positives"]
    scored = per_group[(per_group["positives"] > 0) & (negatives > 0)]
    if scored.empty:
        return float("nan")
    n_pos, n_neg = scored["positives"], negatives[scored.index]
    auc = (scored["rank_sum"] - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    return float((auc * scored["n"]).sum() / scored["n"].sum())


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

    Examples
    --------
    >>> from skctr.metrics import normalized_entropy
    >>> normalized_entropy([1, 0, 0, 0], [0.25, 0.25, 0.25, 0.25])
    1.0
    """
    y, score = _binary_labels(y_true, y_score)
    rate = y.mean()
    if rate in (0.0, 1.0):
        raise ValueError("normalized_entropy needs both classes in y_true: the base-rate entropy of one class is 0.")
    base = -(rate * np.log(rate) + (1 - rate) * np.log(1 - rate))
    p = np.clip(score, _LOGLOSS_EPS, 1 - _LOGLOSS_EPS)
    logloss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(logloss / base)


__all__ = ["binary_scores", "gauc", "normalized_entropy"]
