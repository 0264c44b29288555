"""KDEF loss math against hand computation, and its gradient-flow facts."""
import math

import numpy as np
import pytest
import torch

from skctr.nn import kdef_loss, teacher_logit


def reference_loss(z, y, knowledge="kdef", examination=True):
    """KDEF's loss written term by term with loops, straight from the formulas."""
    z, y = np.asarray(z, dtype=np.float64), np.asarray(y, dtype=np.float64)
    batch, k = z.shape
    p = 1 / (1 + np.exp(-z))
    label = np.mean([np.mean(-(y * np.log(p[:, i]) + (1 - y) * np.log(1 - p[:, i]))) for i in range(k)])
    scores = np.array([np.mean(1 - np.abs(y - p[:, i])) for i in range(k)])
    teacher = 1 / (1 + np.exp(-z.mean(axis=1)))
    kd = dml = 0.0
    if knowledge in ("kdef", "kd"):
        w = np.exp(-scores) / np.exp(-scores).sum() if examination else np.ones(k)
        kd = sum(w[i] * np.mean((p[:, i] - teacher) ** 2) for i in range(k))
    if knowledge in ("kdef", "dml") and k > 1:
        total = 0.0
        for i in range(k):
            peers = [j for j in range(k) if j != i]
            gaps = np.array([scores[j] - scores[i] for j in peers])
            w = np.exp(gaps) / np.exp(gaps).sum() if examination else np.ones(len(peers))
            total += sum(wj * np.mean((p[:, i] - p[:, j]) ** 2) for wj, j in zip(w, peers))
        dml = total / k
    return label, kd, dml


def test_two_students_by_hand():
    # p = [[0.5, 0.75], [0.75, 0.5]], y = [1, 0]: every term is a short sum.
    z = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]])
    y = torch.tensor([1.0, 0.0])
    parts = kdef_loss(z, y)
    label = (math.log(2) + math.log(4 / 3) + math.log(4) + math.log(2)) / 4
    teacher = math.sqrt(3) / (1 + math.sqrt(3))  # sigma(mean logit) = sigma(ln(3)/2) on both rows
    kd_each = ((0.5 - teacher) ** 2 + (0.75 - teacher) ** 2) / 2  # equal for both students; weights sum to 1
    dml = ((0.5 - 0.75) ** 2 + (0.75 - 0.5) ** 2) / 2  # one peer each, weight 1
    assert parts["label"].item() == pytest.approx(label, rel=1e-6)
    assert parts["scores"].tolist() == pytest.approx([0.375, 0.625])
    assert parts["kd"].item() == pytest.approx(kd_each, rel=1e-6)
    assert parts["dml"].item() == pytest.approx(dml, rel=1e-6)
    assert parts["loss"].item() == pytest.approx(label + kd_each + dml, rel=1e-6)


@pytest.mark.parametrize("knowledge", ["kdef", "kd", "dml", "none"])
@pytest.mark.parametrize("examination", [True, False])
@pytest.mark.parametrize("k", [1, 2, 4])
def test_matches_term_by_term_reference(knowledge, examination, k):
    gen = torch.Generator().manual_seed(k)
    z = torch.randn(7, k, generator=gen, dtype=torch.float64) * 2
    y = torch.tensor([1, 0, 1, 1, 0, 0, 1], dtype=torch.float64)
    parts = kdef_loss(z, y, knowledge=knowledge, examination=examination)
    label, kd, dml = reference_loss(z.numpy(), y.numpy(), knowledge, examination)
    assert parts["label"].item() == pytest.approx(label, rel=1e-9)
    assert parts["kd"].item() == pytest.approx(kd, rel=1e-9, abs=1e-12)
    assert parts["dml"].item() == pytest.approx(dml, rel=1e-9, abs=1e-12)
    assert parts["loss"].item() == pytest.approx(label + kd + dml, rel=1e-9)


def test_ablations_switch_exactly_their_terms():
    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(0))
    y = (torch.rand(16, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    full = kdef_loss(z, y)
    assert full["kd"] > 0 and full["dml"] > 0
    for knowledge, has_kd, has_dml in [("kd", True, False), ("dml", False, True), ("none", False, False)]:
        parts = kdef_loss(z, y, knowledge=knowledge)
        assert torch.equal(parts["label"], full["label"])
        assert torch.equal(parts["kd"], full["kd"] if has_kd else torch.zeros(()))
        assert torch.equal(parts["dml"], full["dml"] if has_dml else torch.zeros(()))
    plain = kdef_loss(z, y, examination=False)
    assert torch.equal(plain["label"], full["label"])
    assert not torch.isclose(plain["kd"], full["kd"])


def _own_term_gradient(z, target):
    """d/dz of mean_b (sigma(z) - target)^2 with the target held constant."""
    p = torch.sigmoid(z)
    return 2 * (p - target) * p * (1 - p) / z.shape[0]


def test_teacher_is_detached():
    z = torch.randn(9, 3, generator=torch.Generator().manual_seed(2), requires_grad=True)
    y = torch.ones(9)
    # Without examination the KD term is sum_k MSE(p_k, T): its gradient is the own-term gradient only.
    kdef_loss(z, y, knowledge="kd", examination=False)["kd"].backward()
    teacher = torch.sigmoid(z.detach().mean(1, keepdim=True))
    torch.testing.assert_close(z.grad, _own_term_gradient(z.detach(), teacher))


def test_peers_are_detached():
    z = torch.randn(9, 2, generator=torch.Generator().manual_seed(3), requires_grad=True)
    kdef_loss(z, torch.zeros(9), knowledge="dml", examination=False)["dml"].backward()
    p = torch.sigmoid(z.detach())
    # DML = (MSE(p0, sg p1) + MSE(p1, sg p0)) / 2: each student only feels its own term.
    expected = torch.stack([_own_term_gradient(z.detach()[:, 0], p[:, 1]), _own_term_gradient(z.detach()[:, 1], p[:, 0])], 1) / 2
    torch.testing.assert_close(z.grad, expected)


@pytest.mark.parametrize("knowledge", ["kd", "dml"])
def test_examination_scores_carry_gradient(knowledge):
    z = torch.randn(9, 3, generator=torch.Generator().manual_seed(4), requires_grad=True)
    y = (torch.arange(9) % 2).float()
    kdef_loss(z, y, knowledge=knowledge)[knowledge].backward()
    with_scores = z.grad.clone()
    z.grad = None
    # The same weights as constants: the difference is the gradient through the (undetached) scores.
    parts = kdef_loss(z, y, knowledge=knowledge)
    scores = parts["scores"].detach()
    p = torch.sigmoid(z)
    if knowledge == "kd":
        target = torch.sigmoid(z.mean(1, keepdim=True)).detach()
        constant = (torch.softmax(-scores, 0) * (p - target).square().mean(0)).sum()
    else:
        distances = (p.unsqueeze(2) - p.detach().unsqueeze(1)).square().mean(0)
        gaps = (scores.unsqueeze(0) - scores.unsqueeze(1)).masked_fill(torch.eye(3, dtype=torch.bool), float("-inf"))
        constant = (torch.softmax(gaps, 1) * distances).sum(1).mean()
    torch.testing.assert_close(constant, parts[knowledge])
    constant.backward()
    assert not torch.allclose(with_scores, z.grad)


def test_dml_gradient_through_the_learners_own_score_is_zero():
    # w_ik = softmax_k(S_k - S_i) is shift invariant in S_i: the learner's own score gets no gradient
    # from its DML weights, so with K=2 (a single peer, weight 1) examination changes nothing.
    z = torch.randn(6, 2, generator=torch.Generator().manual_seed(5), requires_grad=True)
    y = torch.tensor([1.0, 0, 1, 0, 1, 1])
    kdef_loss(z, y, knowledge="dml")["dml"].backward()
    with_examination = z.grad.clone()
    z.grad = None
    kdef_loss(z, y, knowledge="dml", examination=False)["dml"].backward()
    torch.testing.assert_close(with_examination, z.grad)


def test_prob_mean_teacher_is_mean_probability():
    z = torch.tensor([[-30.0, 2.0, 0.5], [40.0, -3.0, 1.0]], dtype=torch.float64)
    expected = torch.sigmoid(z).mean(1)
    torch.testing.assert_close(torch.sigmoid(teacher_logit(z, "prob_mean")), expected)
    torch.testing.assert_close(teacher_logit(z, "logit_mean"), z.mean(1))


def test_rejects_unknown_modes():
    with pytest.raises(ValueError, match="knowledge"):
        kdef_loss(torch.zeros(2, 2), torch.zeros(2), knowledge="all")
    with pytest.raises(ValueError, match="teacher"):
        teacher_logit(torch.zeros(2, 2), "median")
