"""Export a fitted estimator's network for serving outside Python: ONNX and TorchScript.

The exported graph takes the *encoded* field arrays, the two halves of
:meth:`FieldSpec.split_columns <skctr.preprocessing.FieldSpec.split_columns>`:

* ``ids``: int64, shape ``(batch, n_ids)``, the index columns of categorical
  and sequence fields in field order;
* ``values``: float32, shape ``(batch, n_values)``, the numeric columns;
  an input of the graph only when the model has numeric fields.

It returns ``probability``: float32, shape ``(batch,)``, the calibrated
positive-class probability, equal to ``predict_proba(X)[:, 1]``. A server
encodes raw rows with the vocabulary that
:meth:`FieldEncoder.save_vocabulary <skctr.preprocessing.FieldEncoder.save_vocabulary>`
writes (format in ``docs/vocabulary_format.md``).
"""
from __future__ import annotations

import copy
import importlib.util
import logging
import warnings
from pathlib import Path

import torch
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from .estimators._base import CTRClassifierBase
from .preprocessing import OOV_INDEX

__all__ = ["export_onnx", "export_torchscript", "serving_module"]


class ProbabilityGraph(torch.nn.Module):
    """A fitted network with its calibration, from encoded arrays to the positive-class probability."""

    def __init__(self, network: torch.nn.Module, scale: float, shift: float, n_values: int):
        super().__init__()
        self.network = network
        self.scale, self.shift, self.n_values = float(scale), float(shift), n_values

    def forward(self, ids: torch.Tensor, values: torch.Tensor | None = None) -> torch.Tensor:
        if values is None:
            values = torch.zeros(ids.shape[0], 0, dtype=torch.float32, device=ids.device)
        logit = self.network(ids, values)[0]
        return torch.sigmoid(logit * self.scale + self.shift)


def _estimator(model, student: bool):
    if isinstance(model, Pipeline):
        model = model[-1]
    if not isinstance(model, CTRClassifierBase):
        raise TypeError(
            f"Expected a skctr estimator or a Pipeline ending in one, got {type(model).__name__}."
        )
    check_is_fitted(model, "net_")
    if student or getattr(model, "prediction_", "ensemble") != "ensemble":  # serve what predict_proba computes
        if not hasattr(model, "best_student_"):
            raise ValueError(
                f"{type(model).__name__} has no best_student_ (it is a single network): export it with student=False."
            )
        model = model.best_student_
    return model


def serving_module(model, *, student: bool = False) -> tuple[ProbabilityGraph, tuple[torch.Tensor, ...]]:
    """The CPU module that an export traces, and an example input for it.

    Parameters
    ----------
    model : fitted skctr estimator, or a Pipeline ending in one
        The model to serve.
    student : bool, default=False
        Serve ``model.best_student_`` instead of the model itself.

    Returns
    -------
    module : ProbabilityGraph
        A copy of the network on the CPU in evaluation mode, with the
        model's calibration, mapping ``(ids[, values])`` to probabilities.
    example : tuple of Tensor
        Two rows of out-of-vocabulary ids (and zero values): valid input for
        any model, used for tracing.
    """
    estimator = _estimator(model, student)
    spec = estimator.field_spec_
    n_ids = sum(field.max_len for field in spec if field.is_indexed)
    n_values = sum(1 for field in spec if not field.is_indexed)
    network = _cpu_copy(estimator.net_.module_)
    scale, shift = estimator.calibration_[0]
    module = ProbabilityGraph(network, scale, shift, n_values).eval()
    example = (torch.full((2, n_ids), OOV_INDEX, dtype=torch.int64),)
    if n_values:
        example += (torch.zeros(2, n_values, dtype=torch.float32),)
    return module, example


def _cpu_copy(network: torch.nn.Module) -> torch.nn.Module:
    """A frozen CPU copy in evaluation mode; the fitted estimator keeps its own network and device."""
    return copy.deepcopy(network).to("cpu").eval().requires_grad_(False)


def export_onnx(model, path, *, student: bool = False, opset_version: int = 18) -> Path:
    """Write the network as an ONNX graph from encoded arrays to probabilities.

    Parameters
    ----------
    model : fitted skctr estimator, or a Pipeline ending in one
        The model to export.
    path : str or Path
        Where to write the ``.onnx`` file.
    student : bool, default=False
        Export ``model.best_student_`` (one network, the cheap one to serve)
        instead of the whole model.
    opset_version : int, default=18
        ONNX opset of the graph.

    Returns
    -------
    Path
        The file written. Its inputs are ``ids`` (int64) and, for models with
        numeric fields, ``values`` (float32); its output is ``probability``.
        The batch dimension is dynamic.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from skctr import KDEFClassifier, make_ctr
    >>> from skctr.serving import export_onnx
    >>> X, y = make_ctr(n_samples=2000, random_state=0)
    >>> model = KDEFClassifier(n_students=2, hidden_units=(16,), max_epochs=2, random_state=0).fit(X, y)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> export_onnx(model, folder / "student.onnx", student=True).name
    'student.onnx'
    """
    missing = [name for name in ("onnx", "onnxscript") if importlib.util.find_spec(name) is None]
    if missing:
        raise ImportError(f"export_onnx needs {' and '.join(missing)}: pip install 'skctr[onnx]'.")
    module, example = serving_module(model, student=student)
    path = Path(path)
    names = ["ids", "values"][: len(example)]
    batch = torch.export.Dim("batch", min=1)
    exporter_log = logging.getLogger("torch.onnx")
    level = exporter_log.level
    try:
        # The exporter logs and warns about its own registry and versions: none of it is about this graph.
        exporter_log.setLevel(logging.ERROR)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module, example, input_names=names, output_names=["probability"],
                dynamic_shapes={name: {0: batch} for name in names},
                opset_version=opset_version, dynamo=True, verbose=False,
            )
    finally:
        exporter_log.setLevel(level)
    program.save(str(path))
    return path


def export_torchscript(model, path, *, student: bool = False) -> Path:
    """Write the network as a traced TorchScript module (loadable from C++ with ``torch::jit::load``).

    Parameters
    ----------
    model : fitted skctr estimator, or a Pipeline ending in one
        The model to export.
    path : str or Path
        Where to write the ``.pt`` file.
    student : bool, default=False
        Export ``model.best_student_`` instead of the whole model.

    Returns
    -------
    Path
        The file written. ``torch.jit.load(path)(ids[, values])`` returns the
        positive-class probabilities.

    Examples
    --------
    >>> import tempfile, pathlib, torch
    >>> from skctr import StudentClassifier, make_ctr
    >>> from skctr.serving import export_torchscript
    >>> X, y = make_ctr(n_samples=2000, random_state=0)
    >>> model = StudentClassifier(hidden_units=(16,), max_epochs=2, random_state=0).fit(X, y)
    >>> path = export_torchscript(model, pathlib.Path(tempfile.mkdtemp()) / "model.pt")
    >>> ids, values = model.field_spec_.split_columns(model.encoder_.transform(X.head(3)))
    >>> torch.jit.load(str(path))(torch.from_numpy(ids)).shape
    torch.Size([3])
    """
    module, example = serving_module(model, student=student)
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice; tracing is still supported
        traced = torch.jit.trace(module, example, check_trace=False)
        torch.jit.save(traced, str(path))
    return path
