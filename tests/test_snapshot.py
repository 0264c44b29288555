"""The best-weights snapshot of early stopping: exact in memory and on disk, and what fit restores with it."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from skctr import StudentClassifier, make_ctr
from skctr.estimators import _snapshot
from skctr.estimators._snapshot import WeightSnapshot


class Mixed(torch.nn.Module):
    """Parameters and buffers of several dtypes and shapes, one of them not contiguous."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Parameter(torch.randn(50, 4))
        self.weight = torch.nn.Parameter(torch.randn(4, 3).t())
        self.register_buffer("clock", torch.arange(50, dtype=torch.int32))
        self.register_buffer("step", torch.tensor(7, dtype=torch.int32))
        self.register_buffer("moments", torch.randn(6, dtype=torch.bfloat16))
        self.register_buffer("mask", torch.tensor([True, False, True]))


def state_copy(module):
    return {key: value.clone() for key, value in module.state_dict().items()}


def scramble(module):
    with torch.no_grad():
        for tensor in module.state_dict().values():
            tensor.copy_(torch.zeros_like(tensor) if tensor.dtype == torch.bool else tensor * 3 + 1)


@pytest.fixture(params=["memory", "disk"])
def where(request, monkeypatch):
    monkeypatch.setattr(_snapshot, "SPILL_BYTES", 10**12 if request.param == "memory" else 0)
    return request.param


def test_a_snapshot_restores_every_value_exactly(where):
    torch.manual_seed(0)
    module = Mixed()
    before = state_copy(module)
    snapshot = WeightSnapshot(module)
    assert (snapshot._file is not None) == (where == "disk")
    scramble(module)
    snapshot.restore(module)
    for key, value in module.state_dict().items():
        assert value.dtype == before[key].dtype
        assert torch.equal(value, before[key]), key
    snapshot.close()


def test_a_restore_writes_into_the_same_parameters(where):
    module = Mixed()
    table = module.table
    snapshot = WeightSnapshot(module)
    scramble(module)
    snapshot.restore(module)
    assert module.table is table and module.table.requires_grad


def test_a_snapshot_refuses_a_module_whose_shapes_changed(where):
    module = Mixed()
    snapshot = WeightSnapshot(module)
    module.table = torch.nn.Parameter(torch.randn(60, 4))
    with pytest.raises(RuntimeError, match="changed shape"):
        snapshot.restore(module)


def test_a_spilled_snapshot_holds_no_copy_in_memory(monkeypatch):
    monkeypatch.setattr(_snapshot, "SPILL_BYTES", 0)
    snapshot = WeightSnapshot(Mixed())
    assert not hasattr(snapshot, "_tensors")
    snapshot.close()
    assert snapshot._file is None


@pytest.fixture(scope="module")
def data():
    X, y = make_ctr(n_samples=3000, cardinality=(5, 50), random_state=0)
    return train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)


def test_early_stopping_restores_the_same_weights_from_disk(data, monkeypatch):
    X_train, X_valid, y_train, y_valid = data
    params = dict(hidden_units=(32,), batch_size=512, lr=1e-3, patience=1, max_epochs=40, device="cpu", random_state=0)
    predictions = {}
    for where, limit in [("memory", 10**12), ("disk", 0)]:
        monkeypatch.setattr(_snapshot, "SPILL_BYTES", limit)
        model = StudentClassifier(**params).fit(X_train, y_train, eval_set=(X_valid, y_valid))
        auc = np.asarray(model.history_[:, "valid_auc"])
        assert int(np.argmax(auc)) < len(auc) - 1, "the last epoch should not be the best, or nothing is restored"
        assert dict(model.net_.callbacks_)["early_stopping"].best_weights_ is None  # dropped, never pickled
        predictions[where] = model.predict_proba(X_valid)
        assert roc_auc_score(y_valid, predictions[where][:, 1]) == pytest.approx(auc.max(), abs=1e-6)
    np.testing.assert_array_equal(predictions["memory"], predictions["disk"])
