"""Dimensional-collapse diagnostics of fitted ensembles (KDEF paper, eq. 3 and Fig. 3/9).

A weight matrix whose singular values are mostly near zero has collapsed onto a
few directions. Knowledge abundance (KA) is the share of a layer's non-zero
singular values that exceed a threshold ``tau``:
``KA(W, tau) = #{sigma_i > tau} / #{sigma_i > 0}``.

The paper's ``tau`` is absolute (its figures use 4 on Criteo-trained layers), which
says nothing on a model whose layers are smaller than that: by default the threshold
here is relative to each layer's largest singular value instead, ``relative_tau *
sigma_max``; ``tau=4.0`` gives the paper's absolute threshold.
"""
from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd
import torch

#: The paper's absolute threshold: its Fig. 3 and 9 mark singular values above 4 on Criteo.
PAPER_TAU = 4.0
#: Default relative threshold: a direction counts if it carries at least a tenth of the strongest one's gain.
DEFAULT_RELATIVE_TAU = 0.1

_COLUMNS = ["student", "layer", "shape", "n_singular", "sigma_max", "threshold", "n_above_tau", "ka"]


def singular_values(estimator) -> list[tuple[str, str, np.ndarray]]:
    """``(student, layer, singular values in descending order)`` for every Linear layer of every student."""
    rows = []
    for student_name, student in estimator.student_modules():
        for layer_name, layer in student.named_modules():
            if isinstance(layer, torch.nn.Linear):
                weight = layer.weight.detach().to("cpu", torch.float64)
                rows.append((student_name, layer_name, torch.linalg.svdvals(weight).numpy()))
    return rows


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _check_threshold(tau, relative_tau) -> tuple[float | None, float | None]:
    """Validate the threshold parameters.

    Returns ``(tau, None)`` for an absolute threshold, ``(None, relative_tau)`` for a relative one.
    """
    if tau is not None and not (_is_real(tau) and tau > 0):
        raise ValueError(
            f"tau must be None (a threshold relative to each layer's largest singular value, set by relative_tau) "
            f"or a positive finite number (an absolute threshold; tau=4.0 is the KDEF paper's), got {tau!r}."
        )
    if not (_is_real(relative_tau) and 0 < relative_tau <= 1):
        raise ValueError(
            f"relative_tau must be a number in (0, 1], the fraction of each layer's largest singular value "
            f"a singular value must reach (default {DEFAULT_RELATIVE_TAU}), got {relative_tau!r}."
        )
    if tau is not None:
        if relative_tau != DEFAULT_RELATIVE_TAU:
            raise ValueError(
                f"tau={tau!r} and relative_tau={relative_tau!r} both set the threshold: pass tau alone for an "
                f"absolute threshold, or relative_tau alone (tau=None) for one relative to each layer's largest "
                f"singular value."
            )
        return float(tau), None
    return None, float(relative_tau)


def _count_above(values: np.ndarray, tau: float | None, relative_tau: float | None) -> tuple[float, int]:
    """``(threshold, number of singular values that count)`` for one layer's singular values.

    Absolute: the singular values strictly above ``tau``. Relative: the non-zero ones at least
    ``relative_tau * sigma_max`` (so the strongest direction of a non-zero layer always counts,
    and ``relative_tau=1`` counts the directions tied with it).
    """
    if tau is not None:
        return tau, int((values > tau).sum())
    threshold = relative_tau * (float(values.max()) if values.size else 0.0)
    return threshold, int(((values >= threshold) & (values > 0)).sum())


def knowledge_abundance(estimator, tau: float | None = None,
                        relative_tau: float = DEFAULT_RELATIVE_TAU) -> pd.DataFrame:
    """Knowledge abundance of every Linear layer of every student of a fitted estimator.

    KA is the share of a layer's non-zero singular values that reach the threshold
    (the KDEF paper's eq. 3): near 1 for a layer that uses all its directions, near
    ``1 / n_singular`` for one collapsed onto a single direction.

    Parameters
    ----------
    estimator : fitted skctr estimator (any of the five classifiers)
    tau : float or None, default=None
        Absolute threshold: the singular values strictly above ``tau`` count.
        ``tau=4.0`` reproduces the paper's threshold (its Fig. 3 and 9, on
        Criteo-trained layers); it only makes sense on layers of that scale -- a
        freshly initialised ``torch.nn.Linear`` has a largest singular value
        around 1, so every layer of a small model scores 0 with it. None (the
        default) uses the relative threshold ``relative_tau * sigma_max`` of each
        layer instead.
    relative_tau : float in (0, 1], default=0.1
        With ``tau=None``, a singular value counts if it is at least
        ``relative_tau`` times its layer's largest one. The default 0.1 counts the
        directions carrying at least a tenth of the strongest one's gain (1% of
        its energy): scale-free, so it means the same on any model, the strongest
        direction always counts, and a random, uncollapsed layer scores about 0.9
        (square) to 1 (rectangular), so a low KA is collapse. Setting it with an
        explicit ``tau`` is an error.

    Returns
    -------
    DataFrame with columns ``student``, ``layer``, ``shape`` (out, in),
    ``n_singular``, ``sigma_max`` (the layer's largest singular value),
    ``threshold`` (the threshold applied to that layer: ``tau``, or
    ``relative_tau * sigma_max``), ``n_above_tau`` (the singular values that
    count) and ``ka`` (in [0, 1]). ``attrs`` records the parameters used:
    ``{"tau": tau, "relative_tau": relative_tau}``, with ``relative_tau`` None
    under an absolute ``tau``.

    Examples
    --------
    >>> from skctr import KDEFClassifier, make_ctr
    >>> from skctr.diagnostics import knowledge_abundance
    >>> X, y = make_ctr(2000, random_state=0)
    >>> model = KDEFClassifier(n_students=2, hidden_units=(32, 16), max_epochs=1, random_state=0).fit(X, y)
    >>> table = knowledge_abundance(model)
    >>> table[["student", "layer", "shape"]].head(3).values.tolist()
    [['student_0', 'mlp.layers.0', (32, 160)], ['student_0', 'mlp.layers.3', (16, 32)], ['student_0', 'mlp.layers.6', (1, 16)]]
    >>> bool((table.threshold == 0.1 * table.sigma_max).all())
    True
    >>> knowledge_abundance(model, tau=4.0).threshold.unique().tolist()  # the paper's absolute threshold
    [4.0]
    """
    tau, relative_tau = _check_threshold(tau, relative_tau)
    shapes = {
        (student_name, layer_name): tuple(layer.weight.shape)
        for student_name, student in estimator.student_modules()
        for layer_name, layer in student.named_modules()
        if isinstance(layer, torch.nn.Linear)
    }
    records = []
    for student_name, layer_name, values in singular_values(estimator):
        nonzero = int((values > 0).sum())
        threshold, above = _count_above(values, tau, relative_tau)
        records.append({
            "student": student_name,
            "layer": layer_name,
            "shape": shapes[(student_name, layer_name)],
            "n_singular": len(values),
            "sigma_max": float(values.max()) if values.size else 0.0,
            "threshold": threshold,
            "n_above_tau": above,
            "ka": above / nonzero if nonzero else 0.0,
        })
    table = pd.DataFrame.from_records(records, columns=_COLUMNS)
    table.attrs.update(tau=tau, relative_tau=relative_tau)
    return table


def plot_singular_values(estimator, *, student=None, tau: float | None = None,
                         relative_tau: float = DEFAULT_RELATIVE_TAU, clip: float | None = 4.0, ax=None):
    """Draw each layer's singular values in descending order (the paper's Fig. 3/9).

    Parameters
    ----------
    estimator : fitted skctr estimator (any of the five classifiers)
    student : str or None, default=None
        Name of the student to draw (e.g. ``"student_2"``); None draws the
        best student (``best_student_index_``) or the only network.
    tau : float or None, default=None
        Absolute threshold, drawn as one dashed line (``tau=4.0`` is the
        paper's). None uses ``relative_tau`` of each layer's largest singular
        value, drawn as a dashed line per layer in that layer's colour. Same
        rule as :func:`knowledge_abundance`, whose KA and threshold the legend gives.
    relative_tau : float in (0, 1], default=0.1
        Relative threshold used with ``tau=None``; see :func:`knowledge_abundance`.
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
    _check_threshold(tau, relative_tau)
    names = [name for name, _ in estimator.student_modules()]
    if student is None:
        # FINAL hands out one module holding both blocks: its best block is inside the only entry.
        student = names[0] if len(names) == 1 else names[getattr(estimator, "best_student_index_", 0)]
    if student not in names:
        raise ValueError(f"student must be one of {names}, got {student!r}.")
    if ax is None:
        ax = plt.figure(figsize=(6, 4)).add_subplot()
    table = knowledge_abundance(estimator, tau, relative_tau).set_index(["student", "layer"])
    for student_name, layer_name, values in singular_values(estimator):
        if student_name == student:
            ka, threshold = table.loc[(student_name, layer_name), ["ka", "threshold"]]
            (line,) = ax.plot(np.arange(1, len(values) + 1), values,
                              label=f"{layer_name} (KA {ka:.1%}, threshold {threshold:.3g})")
            if tau is None:
                ax.axhline(threshold, linestyle="--", color=line.get_color(), linewidth=1)
    if tau is not None:
        ax.axhline(tau, linestyle="--", color="goldenrod", linewidth=1)
    if clip is not None:
        ax.set_ylim(0, clip)
    ax.set_xlabel("singular value index")
    ax.set_ylabel("singular value")
    rule = f"tau = {tau:g}" if tau is not None else f"threshold = {relative_tau:g} x largest"
    ax.set_title(f"{type(estimator).__name__}: {student} ({rule})")
    ax.legend(fontsize="small")
    return ax
