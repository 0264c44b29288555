"""Dimensional-collapse diagnostics of fitted ensembles (KDEF paper, eq. 3 and Fig. 3/9).

A weight matrix whose singular values are mostly near zero has collapsed onto a
few directions. Knowledge abundance (KA) is the share of a layer's non-zero
singular values that exceed a threshold ``tau``:
``KA(W, tau) = #{sigma_i > tau} / #{sigma_i > 0}``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

#: The paper's Fig. 3 and 9 mark singular values above 4 on Criteo.
DEFAULT_TAU = 4.0


def singular_values(estimator) -> list[tuple[str, str, np.ndarray]]:
    """``(student, layer, singular values in descending order)`` for every Linear layer of every student."""
    rows = []
    for student_name, student in estimator.student_modules():
        for layer_name, layer in student.named_modules():
            if isinstance(layer, torch.nn.Linear):
                weight = layer.weight.detach().to("cpu", torch.float64)
                rows.append((student_name, layer_name, torch.linalg.svdvals(weight).numpy()))
    return rows


def knowledge_abundance(estimator, tau: float = DEFAULT_TAU) -> pd.DataFrame:
    """Knowledge abundance of every Linear layer of every student of a fitted estimator.

    Parameters
    ----------
    estimator : fitted KDEFClassifier or StudentClassifier
    tau : float, default=4.0
        Threshold above which a singular value counts as significant.

    Returns
    -------
    DataFrame with columns ``student``, ``layer``, ``shape`` (out, in),
    ``n_singular``, ``n_above_tau`` and ``ka`` (in [0, 1]).

    Examples
    --------
    >>> from skctr import KDEFClassifier, make_ctr
    >>> from skctr.diagnostics import knowledge_abundance
    >>> X, y = make_ctr(2000, random_state=0)
    >>> model = KDEFClassifier(n_students=2, hidden_units=(32, 16), max_epochs=1, random_state=0).fit(X, y)
    >>> table = knowledge_abundance(model, tau=0.5)
    >>> table[["student", "layer", "shape"]].head(3).values.tolist()
    [['student_0', 'mlp.layers.0', (32, 160)], ['student_0', 'mlp.layers.4', (16, 32)], ['student_0', 'mlp.layers.8', (1, 16)]]
    """
    if not (isinstance(tau, (int, float)) and tau >= 0):
        raise ValueError(f"tau must be a non-negative number, got {tau!r}.")
    shapes = {
        (student_name, layer_name): tuple(layer.weight.shape)
        for student_name, student in estimator.student_modules()
        for layer_name, layer in student.named_modules()
        if isinstance(layer, torch.nn.Linear)
    }
    records = []
    for student_name, layer_name, values in singular_values(estimator):
        nonzero = int((values > 0).sum())
        above = int((values > tau).sum())
        records.append({
            "student": student_name,
            "layer": layer_name,
            "shape": shapes[(student_name, layer_name)],
            "n_singular": len(values),
            "n_above_tau": above,
            "ka": above / nonzero if nonzero else 0.0,
        })
    return pd.DataFrame.from_records(records, columns=["student", "layer", "shape", "n_singular", "n_above_tau", "ka"])


def plot_singular_values(estimator, *, student=None, tau: float = DEFAULT_TAU, clip: float | None = 4.0, ax=None):
    """Draw each layer's singular values in descending order (the paper's Fig. 3/9).

    Parameters
    ----------
    estimator : fitted KDEFClassifier or StudentClassifier
    student : str or None, default=None
        Name of the student to draw (e.g. ``"student_2"``); None draws the
        best student (``best_student_index_``) or the only network.
    tau : float, default=4.0
        Drawn as a dashed threshold line; the legend gives each layer's KA.
    clip : float or None, default=4.0
        Upper limit of the y axis, as in the paper's figures.
    ax : matplotlib Axes or None
        Where to draw; a new figure otherwise.

    Returns
    -------
    matplotlib Axes
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("plot_singular_values needs matplotlib: pip install 'skctr[plot]'.") from None
    names = [name for name, _ in estimator.student_modules()]
    if student is None:
        student = names[getattr(estimator, "best_student_index_", 0)]
    if student not in names:
        raise ValueError(f"student must be one of {names}, got {student!r}.")
    if ax is None:
        ax = plt.figure(figsize=(6, 4)).add_subplot()
    table = knowledge_abundance(estimator, tau).set_index(["student", "layer"])
    for student_name, layer_name, values in singular_values(estimator):
        if student_name == student:
            ka = table.loc[(student_name, layer_name), "ka"]
            ax.plot(np.arange(1, len(values) + 1), values, label=f"{layer_name} (KA {ka:.1%})")
    ax.axhline(tau, linestyle="--", color="goldenrod", linewidth=1)
    if clip is not None:
        ax.set_ylim(0, clip)
    ax.set_xlabel("singular value index")
    ax.set_ylabel("singular value")
    ax.set_title(f"{type(estimator).__name__}: {student}")
    ax.legend(fontsize="small")
    return ax
