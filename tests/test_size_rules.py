"""``batch_size="auto"`` and ``batch_norm="auto"``: decided by the training rows, by a rule anyone can read."""
from __future__ import annotations

import pytest

from skctr import KDEFClassifier, StudentClassifier, make_ctr
from skctr.estimators._base import BATCH_NORM_ROWS, auto_batch_size


@pytest.mark.parametrize("rows, expected", [
    (1, 256), (8_000, 256), (16_384, 512), (58_284, 2048), (80_000, 2048), (202_027, 4096), (10_000_000, 4096),
])
def test_batch_size_aims_at_32_steps_an_epoch(rows, expected):
    assert auto_batch_size(rows) == expected


def test_auto_resolves_on_the_training_rows_and_a_warm_start_keeps_the_architecture():
    X, y = make_ctr(n_samples=3000, random_state=0)
    model = StudentClassifier(hidden_units=(8,), max_epochs=1, device="cpu", random_state=0).fit(X, y, eval_set=(X, y))
    assert model.batch_size_ == auto_batch_size(3000) and model.batch_norm_ is False
    assert model.get_params()["batch_size"] == "auto"  # the parameter stays as given
    assert not any("BatchNorm" in type(m).__name__ for m in model.net_.module_.modules())
    explicit = StudentClassifier(hidden_units=(8,), max_epochs=1, batch_size=100, batch_norm=True, device="cpu",
                                 random_state=0).fit(X, y)
    assert explicit.batch_size_ == 100 and explicit.batch_norm_ is True
    assert any("BatchNorm" in type(m).__name__ for m in explicit.net_.module_.modules())
    # A warm start on more rows than BATCH_NORM_ROWS would say otherwise keeps the trained network's layers.
    model._resolve_size_rules(BATCH_NORM_ROWS, keep_architecture=True)
    assert model.batch_norm_ is False and model.batch_size_ == 4096


def test_an_extracted_member_carries_the_resolved_architecture():
    X, y = make_ctr(n_samples=2000, random_state=0)
    model = KDEFClassifier(n_students=2, hidden_units=(8,), max_epochs=1, device="cpu", random_state=0).fit(X, y)
    student = model.best_student_
    assert student.get_params()["batch_norm"] is model.batch_norm_ is False
    assert student.batch_size_ == model.batch_size_
