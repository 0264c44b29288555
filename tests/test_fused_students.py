"""Fused homogeneous MLP students: the same outputs and gradients as the loop from the same weights."""
import pytest
import torch

from skctr.nn import KDEF
from skctr.nn.students import create_student
from skctr.nn.students.fused_mlp import FusedMLPStudents
from skctr.preprocessing import Field, FieldSpec
from test_nn import spec_with_rows


def looped_and_fused(batch_norm, dropout=0.0, k=4):
    torch.manual_seed(0)
    params = {"hidden_units": (12, 8, 6), "dropout": dropout, "batch_norm": batch_norm}
    looped = [create_student(("mlp", params), 5, 3) for _ in range(k)]
    for student in looped:  # make biases and norm affine parameters non-trivial
        for p in student.parameters():
            p.data.add_(torch.randn_like(p) * 0.1)
    return looped, FusedMLPStudents(looped, 5, 3)


@pytest.mark.parametrize("batch_norm", [True, False])
@pytest.mark.parametrize("train", [True, False])
def test_same_outputs_and_gradients_as_the_loop(batch_norm, train):
    looped, fused = looped_and_fused(batch_norm)
    for module in looped + [fused]:
        module.train(train)
    E = torch.randn(32, 5, 3, requires_grad=True)
    E_fused = E.detach().clone().requires_grad_(True)
    loop_out = torch.stack([s(E) for s in looped], 1)
    fused_out = fused(E_fused)
    torch.testing.assert_close(fused_out, loop_out, rtol=1e-5, atol=1e-6)
    weights = torch.randn_like(loop_out)
    (loop_out * weights).sum().backward()
    (fused_out * weights).sum().backward()
    torch.testing.assert_close(E_fused.grad, E.grad, rtol=1e-5, atol=1e-6)
    for i, layer in enumerate(m for m in looped[2].mlp.layers if isinstance(m, torch.nn.Linear)):
        torch.testing.assert_close(fused.weights[i].grad[2], layer.weight.grad.T, rtol=1e-5, atol=1e-6)
        # A bias feeding batch norm has zero gradient in exact arithmetic: only rounding noise is compared.
        torch.testing.assert_close(fused.biases[i].grad[2], layer.bias.grad, rtol=1e-5, atol=1e-5)
    if batch_norm and train:  # running statistics are updated per student, as the loop's
        first = next(m for m in looped[1].mlp.layers if isinstance(m, torch.nn.BatchNorm1d))
        torch.testing.assert_close(fused.norms[0].running_mean[12:24], first.running_mean)


def test_unfuse_round_trip():
    looped, fused = looped_and_fused(True)
    E = torch.randn(8, 5, 3)
    fused.eval()
    for k, student in enumerate(looped):
        copy = fused.unfuse(k).eval()
        torch.testing.assert_close(copy(E), student.eval()(E))
        assert copy.student_params == student.student_params


def test_dropout_masks_are_independent_per_student():
    _, fused = looped_and_fused(False, dropout=0.5)
    fused.train()
    out = fused(torch.ones(64, 5, 3))
    assert not torch.allclose(out[:, 0], out[:, 1])


def test_kdef_fuses_only_identical_mlp_students():
    spec = spec_with_rows(4, 40)
    fused = KDEF(spec, 4, ["mlp"] * 3, fuse=True)
    assert fused.fused is not None and fused.students is None and fused.n_students == 3
    mixed = KDEF(spec, 4, ["mlp", ("mlp", {"dropout": 0.5})], fuse=True)
    assert mixed.fused is None and mixed.n_students == 2
    # Same parameter count as the looped model (EKTF Criteo N=2 checksum).
    criteo = KDEF(spec_with_rows(39, 910_747), 16, ["mlp"] * 2, shared_params={"hidden_units": [400] * 3}, fuse=True)
    assert sum(p.numel() for p in criteo.parameters()) == 15_719_154


def test_fused_kdef_matches_looped_kdef():
    spec = FieldSpec([Field(f"f{i}", "categorical", 6) for i in range(3)])
    torch.manual_seed(1)
    looped = KDEF(spec, 4, ["mlp"] * 3, shared_params={"hidden_units": (8,), "dropout": 0.0})
    torch.manual_seed(1)
    fused = KDEF(spec, 4, ["mlp"] * 3, shared_params={"hidden_units": (8,), "dropout": 0.0}, fuse=True)
    ids, values = torch.randint(0, 6, (16, 3)), torch.zeros(16, 0)
    torch.testing.assert_close(fused(ids, values)[1], looped(ids, values)[1], rtol=1e-5, atol=1e-6)
