"""``mixed_precision``: autocast forward passes, float32 losses, loss scaling for fp16; applied on the CPU too."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from skorch.callbacks import Callback

from skctr import CETNetClassifier, KDEFClassifier, StudentClassifier, make_ctr

SMALL = dict(hidden_units=(32,), max_epochs=3, batch_size=256, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_ctr(n_samples=3000, random_state=0)
    return X.iloc[:2400], X.iloc[2400:], y[:2400], y[2400:]


def linear_input_dtypes(estimator):
    """Record the dtype every Linear layer of a fitted model computes in (its output's)."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda module, inputs, output: seen.append((module.training, output.dtype)))
        for m in estimator.net_.module_.modules() if isinstance(m, torch.nn.Linear)
    ]
    return seen, hooks


class RecordTrainingDtypes(Callback):
    """Record the dtype every Linear layer computes in during the training steps of a fit."""

    def __init__(self):
        self.seen = []

    def on_train_begin(self, net, **kwargs):
        for m in net.module_.modules():
            if isinstance(m, torch.nn.Linear):
                m.register_forward_hook(lambda module, inputs, output: self.seen.append((module.training, output.dtype)))


@pytest.mark.parametrize("precision, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16)])
def test_layers_run_in_the_reduced_dtype_and_the_model_learns(precision, dtype, data):
    X_train, X_test, y_train, y_test = data
    recorder = RecordTrainingDtypes()
    # Trained past the first epochs: three epochs of a barely learning model swing its AUC by a few 0.01 with
    # any rounding change (a thread count, a reduction order), which would drown what precision changes.
    learning = {**SMALL, "max_epochs": 10, "lr": 3e-3}
    est = StudentClassifier(mixed_precision=precision, callbacks=[recorder], **learning).fit(X_train, y_train)
    trained = [d for training, d in recorder.seen if training]
    assert trained and all(d == dtype for d in trained)
    seen, hooks = linear_input_dtypes(est)
    proba = est.predict_proba(X_test)
    for hook in hooks:
        hook.remove()
    assert seen and all(d == dtype for _, d in seen)
    assert proba.dtype == np.float64 and np.isfinite(proba).all()
    # It learns what full precision learns: the same data and seed give nearly the same test AUC.
    reference = StudentClassifier(**learning).fit(X_train, y_train).predict_proba(X_test)[:, 1]
    auc = roc_auc_score(y_test, proba[:, 1])
    assert auc > 0.55 and abs(auc - roc_auc_score(y_test, reference)) < 0.02
    assert np.isfinite(est.history_[:, "train_loss"]).all()
    # Parameters and optimizer state stay float32: autocast changes the arithmetic, not the weights.
    assert all(p.dtype == torch.float32 for p in est.net_.module_.parameters())


def test_fp16_scales_the_loss_and_drops_the_scaler_after_fit(data, monkeypatch):
    X_train, _, y_train, _ = data
    scales = []
    original = torch.amp.GradScaler.scale

    def record(self, outputs):
        scales.append(float(self.get_scale()))
        return original(self, outputs)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", record)
    est = KDEFClassifier(n_students=2, mixed_precision="fp16", **SMALL).fit(X_train, y_train)
    n_batches = -(-int(len(X_train) * 0.9) // SMALL["batch_size"])
    assert len(scales) >= SMALL["max_epochs"] * (n_batches - 1)
    assert scales[0] == 65536.0  # GradScaler's initial scale: the loss really was scaled
    assert est.net_.grad_scaler_ is None


def test_default_is_full_precision_and_param_round_trips(data):
    X_train, X_test, y_train, _ = data
    est = StudentClassifier(**SMALL).fit(X_train, y_train)
    seen, hooks = linear_input_dtypes(est)
    est.predict_proba(X_test)
    for hook in hooks:
        hook.remove()
    assert all(d == torch.float32 for _, d in seen)
    assert clone(CETNetClassifier(mixed_precision="bf16")).get_params()["mixed_precision"] == "bf16"


def test_best_student_inherits_the_setting(data):
    X_train, _, y_train, _ = data
    est = KDEFClassifier(n_students=2, mixed_precision="bf16", **SMALL).fit(X_train, y_train)
    assert est.best_student_.get_params()["mixed_precision"] == "bf16"


@pytest.mark.parametrize("bad", ["float16", "16-mixed", True, "BF16"])
def test_invalid_value_names_the_parameter(bad, data):
    X_train, _, y_train, _ = data
    with pytest.raises(ValueError, match="mixed_precision. parameter of StudentClassifier must be None or a str among"):
        StudentClassifier(mixed_precision=bad, **SMALL).fit(X_train, y_train)
