"""FINAL 1B/2B: the self-distillation loss, block extraction and the estimator contract."""
import math

import joblib
import numpy as np
import pytest
import torch

from skctr import FieldEncoder, FINALClassifier, StudentClassifier, make_ctr
from skctr.nn.final_net import FINALNet, final_loss
from skctr.preprocessing import Field, FieldSpec

SMALL = dict(hidden_units=(16, 8), max_epochs=2, batch_size=512, random_state=0, device="cpu")


def test_two_block_loss_by_hand():
    z = torch.tensor([[0.0, math.log(3)]])  # p1 = 0.5, p2 = 0.75; prediction sigma(ln(3)/2)
    p = math.sqrt(3) / (1 + math.sqrt(3))
    expected = -math.log(p)  # y = 1
    expected += -(p * math.log(0.5) + (1 - p) * math.log(0.5))
    expected += -(p * math.log(0.75) + (1 - p) * math.log(0.25))
    assert final_loss(z, torch.tensor([1.0])).item() == pytest.approx(expected, rel=1e-6)


def test_one_block_loss_is_bce():
    z = torch.tensor([[0.3], [-1.2]])
    y = torch.tensor([1.0, 0.0])
    assert torch.isclose(final_loss(z, y), torch.nn.functional.binary_cross_entropy_with_logits(z[:, 0], y))


def test_soft_targets_are_detached():
    z = torch.tensor([[0.2, -0.4]], requires_grad=True)
    final_loss(z, torch.tensor([1.0])).backward()
    p = torch.sigmoid(z.detach())
    target = torch.sigmoid(z.detach().mean())
    # d/dz_k: 0.5 * (sigma(mean) - y) from the prediction, plus (p_k - target) from block k's own term.
    expected = 0.5 * (target - 1.0) + (p - target)
    torch.testing.assert_close(z.grad, expected)


@pytest.mark.parametrize("gate", [True, False])
def test_blocks_extract_to_identical_students(gate):
    spec = FieldSpec([Field(f"f{i}", "categorical", 9) for i in range(4)])
    net = FINALNet(spec, 4, {"blocks": 2, "hidden_units": (8, 6), "block2_hidden_units": (4,), "field_gate": gate, "block2_dropout": 0.3}).eval()
    ids, values = torch.randint(0, 9, (6, 4)), torch.zeros(6, 0)
    prediction, blocks = net(ids, values)
    torch.testing.assert_close(prediction, blocks.mean(1))
    embeddings = net.embedding(ids, values)
    for b in (0, 1):
        torch.testing.assert_close(net.block_as_student(b).eval()(embeddings), blocks[:, b])
    assert net.block_as_student(1).student_params["dropout"] == 0.3


@pytest.fixture(scope="module")
def data():
    X, y = make_ctr(3000, cardinality=(5, 40), random_state=0)
    return X, y


def test_fit_predict_best_block(data, tmp_path):
    X, y = data
    model = FINALClassifier(blocks=2, block2_hidden_units=(8,), **SMALL).fit(X, y)
    assert list(model.student_scores_.index) == ["ensemble", "block_1", "block_2"]
    assert model.best_student_index_ == int(np.argmax(model.student_scores_["auc"].to_numpy()[1:]))
    best = model.best_student_
    assert isinstance(best, StudentClassifier) and best.student[0] == "final"
    np.testing.assert_allclose(best.predict_proba(X)[:, 1], model.predict_proba_students(X)[:, model.best_student_index_], atol=1e-6)
    joblib.dump(model, tmp_path / "m.joblib")
    np.testing.assert_array_equal(joblib.load(tmp_path / "m.joblib").predict_proba(X), model.predict_proba(X))
    with pytest.raises(IndexError):
        model.get_student(2)


def test_one_block_in_a_pipeline(data):
    from sklearn.pipeline import make_pipeline

    X, y = data
    pipe = make_pipeline(FieldEncoder(), FINALClassifier(blocks=1, **SMALL)).fit(X, y)
    model = pipe[-1]
    assert list(model.student_scores_.index) == ["ensemble", "block_1"]
    np.testing.assert_allclose(
        model.best_student_.predict_proba(pipe[0].transform(X)), pipe.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize("params, name", [
    ({"blocks": 3}, "blocks"),
    ({"blocks": 2, "block2_hidden_units": (7,)}, "block2_hidden_units"),
    ({"hidden_units": (9, 4)}, "hidden_units"),
    ({"residual": "add"}, "residual"),
    ({"gate_init": "zeros"}, "gate_init"),
    ({"field_gate": "yes"}, "field_gate"),
])
def test_invalid_parameters(data, params, name):
    X, y = data
    model = FINALClassifier(**{**SMALL, **params})
    with pytest.raises(ValueError, match=name):
        model.fit(X, y)


def test_block2_widths_without_a_second_block_warn(data):
    X, y = data
    with pytest.warns(UserWarning, match="block2_hidden_units=.*blocks=2"):
        FINALClassifier(block2_hidden_units=(8,), **SMALL).fit(X, y)
