"""Golden values for every framework's training loss.

Each expected value is computed here in float64 numpy, term by term from the
published formulas, on a fixed small batch written out as literals; the code
under test is only ever called to produce the value being checked.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from skctr.nn import CETNet, FINALNet, KDEF, TF4CTR, cetnet_loss, kdef_loss, symmetric_kl, twin_focus_loss
from skctr.nn.cetnet import confidence_weights
from skctr.nn.final_net import final_loss
from skctr.nn.students.final import FinalStudent
from skctr.preprocessing import Field, FieldSpec

ATOL = RTOL = 1e-6

# --------------------------------------------------------------------------- the fixed batch
# Five samples, three members; the logits span confident and unsure members, right and wrong.
Y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])
MEMBER_LOGITS = np.array([
    [2.0, -0.5, 0.3],
    [-1.5, 0.8, -2.2],
    [0.1, 1.7, -0.4],
    [0.6, -3.0, 1.1],
    [-0.7, 2.4, 0.9],
])
FUSED_LOGITS = np.array([0.9, -1.1, 0.4, -0.2, 1.3])
SPEC = FieldSpec([Field("a", "categorical", 5), Field("b", "categorical", 5)])


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def bce(p, t):
    """Elementwise -[t log p + (1 - t) log(1 - p)] (t may be a soft label)."""
    return -(t * np.log(p) + (1.0 - t) * np.log(1.0 - p))


def mse(a, b):
    return np.mean((np.asarray(a) - np.asarray(b)) ** 2)


def softmax(v):
    e = np.exp(np.asarray(v) - np.max(v))
    return e / e.sum()


def bernoulli_kl(p, q):
    return p * np.log(p / q) + (1.0 - p) * np.log((1.0 - p) / (1.0 - q))


def t64(a):
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def close(got, expected):
    got = got.detach().numpy() if isinstance(got, torch.Tensor) else got
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------- KDEF
def kdef_golden(z, y, knowledge, examination, teacher):
    """(label, kd, dml, scores): L = (1/K) sum_k BCE(p_k) + sum_k w_k MSE(p_k, T) + (1/K) sum_i sum_{k != i} w_ik MSE(p_i, p_k)."""
    p = sigmoid(z)
    batch, k = p.shape
    label = sum(np.mean(bce(p[:, i], y)) for i in range(k)) / k
    scores = np.array([np.mean(1.0 - np.abs(y - p[:, i])) for i in range(k)])
    if teacher == "logit_mean":
        t = sigmoid(z.mean(axis=1))
    else:
        t = p.mean(axis=1)
    kd = dml = 0.0
    if knowledge in ("kdef", "kd"):
        # Softmin over the scores: the weakest student is taught most. "w/o EM": every weight 1.
        w = softmax(-scores) if examination else np.ones(k)
        kd = sum(w[i] * mse(p[:, i], t) for i in range(k))
    if knowledge in ("kdef", "dml") and k > 1:
        total = 0.0
        for i in range(k):
            peers = [j for j in range(k) if j != i]
            w = softmax([scores[j] - scores[i] for j in peers]) if examination else np.ones(len(peers))
            total += sum(wj * mse(p[:, i], p[:, j]) for wj, j in zip(w, peers))
        dml = total / k
    return label, kd, dml, scores


KDEF_MODES = list(itertools.product(("kdef", "kd", "dml", "none"), (True, False), ("logit_mean", "prob_mean")))


@pytest.mark.parametrize("knowledge, examination, teacher", KDEF_MODES)
def test_kdef_loss_golden(knowledge, examination, teacher):
    label, kd, dml, scores = kdef_golden(MEMBER_LOGITS, Y, knowledge, examination, teacher)
    parts = kdef_loss(t64(MEMBER_LOGITS), t64(Y), knowledge=knowledge, examination=examination, teacher=teacher)
    close(parts["label"], label)
    close(parts["scores"], scores)
    close(parts["kd"], kd)
    close(parts["dml"], dml)
    close(parts["loss"], label + kd + dml)


def test_kdef_golden_batch_tells_the_modes_apart():
    """On this batch every switch changes the golden value, so the tests above can tell the modes apart."""
    label, kd, dml, scores = kdef_golden(MEMBER_LOGITS, Y, "kdef", True, "logit_mean")
    assert kd > 1e-3 and dml > 1e-3 and np.ptp(scores) > 0.1
    assert abs(kdef_golden(MEMBER_LOGITS, Y, "kdef", False, "logit_mean")[1] - kd) > 1e-3
    assert abs(kdef_golden(MEMBER_LOGITS, Y, "kdef", False, "logit_mean")[2] - dml) > 1e-3
    assert abs(kdef_golden(MEMBER_LOGITS, Y, "kdef", True, "prob_mean")[1] - kd) > 1e-4


@pytest.mark.parametrize("knowledge, examination, teacher", KDEF_MODES)
def test_kdef_module_loss_golden(knowledge, examination, teacher):
    module = KDEF(SPEC, 4, ["mlp"] * 3, knowledge=knowledge, examination=examination, teacher=teacher)
    label, kd, dml, _ = kdef_golden(MEMBER_LOGITS, Y, knowledge, examination, teacher)
    teacher_logit = t64(np.log(sigmoid(MEMBER_LOGITS).mean(1)) - np.log(1 - sigmoid(MEMBER_LOGITS).mean(1)))
    close(module.loss((teacher_logit, t64(MEMBER_LOGITS)), t64(Y)), label + kd + dml)


def test_kdef_prob_mean_teacher_golden():
    """The forward's prediction with teacher="prob_mean" is the logit of the mean student probability."""
    from skctr.nn import teacher_logit

    mean_p = sigmoid(MEMBER_LOGITS).mean(axis=1)
    close(teacher_logit(t64(MEMBER_LOGITS), "prob_mean"), np.log(mean_p / (1 - mean_p)))
    close(teacher_logit(t64(MEMBER_LOGITS), "logit_mean"), MEMBER_LOGITS.mean(axis=1))


def test_kdef_two_students_golden():
    z = MEMBER_LOGITS[:, :2]
    label, kd, dml, scores = kdef_golden(z, Y, "kdef", True, "logit_mean")
    parts = kdef_loss(t64(z), t64(Y))
    close(parts["scores"], scores)
    close(parts["loss"], label + kd + dml)


def test_kdef_one_student_golden_is_plain_bce():
    z = MEMBER_LOGITS[:, :1]
    parts = kdef_loss(t64(z), t64(Y))
    close(parts["loss"], np.mean(bce(sigmoid(z[:, 0]), Y)))
    close(parts["kd"], 0.0)
    close(parts["dml"], 0.0)


# --------------------------------------------------------------------------- TF4CTR
SIMPLE, COMPLEX = MEMBER_LOGITS[:, 0], MEMBER_LOGITS[:, 1]
TF_SETTINGS = [(0.25, 0.8, 2.0), (0.35, 0.9, 1.0), (0.15, 0.7, 3.0), (0.2, 1.0, 2.0), (0.5, 0.5, 0.0), (0.0, 0.8, 2.0), (1.0, 0.8, 2.0)]


def twin_focus_golden(z_s, z_c, y, alpha, c, gamma):
    """alpha * mean[(c + p_t(s))^gamma BCE_s] + (1 - alpha) * mean[(2 - c - p_t(c))^gamma BCE_c], p_t = p if y else 1 - p."""
    easy = hard = 0.0
    for zs, zc, yb in zip(z_s, z_c, y):
        ps, pc = sigmoid(zs), sigmoid(zc)
        pt_s = ps if yb == 1 else 1 - ps
        pt_c = pc if yb == 1 else 1 - pc
        easy += (c + pt_s) ** gamma * bce(ps, yb)
        hard += ((2 - c) - pt_c) ** gamma * bce(pc, yb)
    return alpha * easy / len(y) + (1 - alpha) * hard / len(y)


@pytest.mark.parametrize("alpha, c, gamma", TF_SETTINGS)
def test_twin_focus_loss_golden(alpha, c, gamma):
    expected = twin_focus_golden(SIMPLE, COMPLEX, Y, alpha, c, gamma)
    close(twin_focus_loss(t64(SIMPLE), t64(COMPLEX), t64(Y), alpha=alpha, c=c, gamma=gamma), expected)


def test_twin_focus_loss_default_settings_golden():
    close(twin_focus_loss(t64(SIMPLE), t64(COMPLEX), t64(Y)), twin_focus_golden(SIMPLE, COMPLEX, Y, 0.25, 0.8, 2.0))


@pytest.mark.parametrize("alpha, c, gamma", TF_SETTINGS[:4])
def test_tf4ctr_module_loss_golden(alpha, c, gamma):
    """L_total = BCE(fused) + L_TF with the module's own alpha, c and gamma."""
    module = TF4CTR(SPEC, 4, simple_hidden_units=(4,), complex_hidden_units=(4,), alpha=alpha, c=c, gamma=gamma)
    expected = np.mean(bce(sigmoid(FUSED_LOGITS), Y)) + twin_focus_golden(SIMPLE, COMPLEX, Y, alpha, c, gamma)
    z = t64(np.stack([SIMPLE, COMPLEX], axis=1))
    close(module.loss((t64(FUSED_LOGITS), z), t64(Y)), expected)


# --------------------------------------------------------------------------- CETNet
def symmetric_kl_golden(z, reduction):
    """L_kl = sum over samples (or its mean) of 1/2 sum_{k<j} [KL(p_k || p_j) + KL(p_j || p_k)]."""
    p = sigmoid(z)
    per_sample = []
    for row in p:
        s = 0.0
        for k in range(len(row)):
            for j in range(k + 1, len(row)):
                s += 0.5 * (bernoulli_kl(row[k], row[j]) + bernoulli_kl(row[j], row[k]))
        per_sample.append(s)
    return np.sum(per_sample) if reduction == "sum" else np.mean(per_sample)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("n_components", [2, 3])
def test_symmetric_kl_golden(reduction, n_components):
    z = MEMBER_LOGITS[:, :n_components]
    close(symmetric_kl(t64(z), reduction), symmetric_kl_golden(z, reduction))


def test_symmetric_kl_sum_is_batch_size_times_mean():
    assert symmetric_kl_golden(MEMBER_LOGITS, "sum") == pytest.approx(len(Y) * symmetric_kl_golden(MEMBER_LOGITS, "mean"))
    close(symmetric_kl(t64(MEMBER_LOGITS), "sum"), len(Y) * symmetric_kl_golden(MEMBER_LOGITS, "mean"))


def cetnet_golden(fused, z, y, kl_weight, reduction):
    """BCE(fused) + sum_k BCE(component k) + kl_weight * L_kl (BCEs are batch means)."""
    components = sum(np.mean(bce(sigmoid(z[:, k]), y)) for k in range(z.shape[1]))
    return np.mean(bce(sigmoid(fused), y)) + components + kl_weight * symmetric_kl_golden(z, reduction)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("kl_weight", [0.0, 0.1, 0.5, 1.0])
def test_cetnet_loss_golden(kl_weight, reduction):
    expected = cetnet_golden(FUSED_LOGITS, MEMBER_LOGITS, Y, kl_weight, reduction)
    got = cetnet_loss(t64(FUSED_LOGITS), t64(MEMBER_LOGITS), t64(Y), kl_weight=kl_weight, kl_reduction=reduction)
    close(got, expected)


def test_cetnet_loss_default_is_mean_reduction_with_weight_one_tenth():
    expected = cetnet_golden(FUSED_LOGITS, MEMBER_LOGITS, Y, 0.1, "mean")
    close(cetnet_loss(t64(FUSED_LOGITS), t64(MEMBER_LOGITS), t64(Y)), expected)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cetnet_module_loss_golden(reduction):
    module = CETNet(SPEC, 4, ["mlp", "mlp", "mlp"], kl_weight=0.5, kl_reduction=reduction)
    expected = cetnet_golden(FUSED_LOGITS, MEMBER_LOGITS, Y, 0.5, reduction)
    close(module.loss((t64(FUSED_LOGITS), t64(MEMBER_LOGITS)), t64(Y)), expected)


@pytest.mark.parametrize("temperature", [1.0, 0.5, 2.0])
def test_cetnet_confidence_weights_golden(temperature):
    """alpha_k = softmax_k(c_k / tau) with c_k = p_k log p_k + (1 - p_k) log(1 - p_k), per sample."""
    p = sigmoid(MEMBER_LOGITS)
    confidence = p * np.log(p) + (1 - p) * np.log(1 - p)
    expected = np.stack([softmax(row / temperature) for row in confidence])
    close(confidence_weights(t64(MEMBER_LOGITS), temperature), expected)


# --------------------------------------------------------------------------- FINAL
def final_golden(z, y):
    """1B: BCE(sigma(z1), y). 2B: BCE(y_hat, y) + BCE(sigma(z1), sg(y_hat)) + BCE(sigma(z2), sg(y_hat)), y_hat = sigma((z1 + z2) / 2)."""
    if z.shape[1] == 1:
        return np.mean(bce(sigmoid(z[:, 0]), y))
    y_hat = sigmoid(0.5 * (z[:, 0] + z[:, 1]))
    return np.mean(bce(y_hat, y)) + np.mean(bce(sigmoid(z[:, 0]), y_hat)) + np.mean(bce(sigmoid(z[:, 1]), y_hat))


@pytest.mark.parametrize("blocks", [1, 2])
def test_final_loss_golden(blocks):
    z = MEMBER_LOGITS[:, :blocks]
    close(final_loss(t64(z), t64(Y)), final_golden(z, Y))


@pytest.mark.parametrize("blocks", [1, 2])
def test_final_net_module_loss_golden(blocks):
    module = FINALNet(SPEC, 4, {"blocks": blocks, "hidden_units": (4,), "block2_hidden_units": (4,)})
    z = MEMBER_LOGITS[:, :blocks]
    close(module.loss((t64(z.mean(1)), t64(z)), t64(Y)), final_golden(z, Y))


# A FINAL 2B network small enough to run by hand: F = 2 fields, D = 2, one layer of 2 units per block.
EMBEDDINGS = np.array([
    [[0.5, -1.0], [0.2, 0.3]],
    [[-0.4, 0.8], [1.1, -0.6]],
    [[0.9, 0.1], [-0.3, -0.7]],
    [[0.0, 0.6], [0.4, 1.2]],
    [[-1.2, -0.2], [0.7, 0.5]],
])


def factorized_golden(x, weight, bias, residual):
    """h = W x + b split in halves (h2 first, then h1): [h2, h1 * h2] (concat) or h2 + h1 * h2 (sum)."""
    h = x @ weight.T + bias
    half = h.shape[1] // 2
    h2, h1 = h[:, :half], h[:, half:]
    return np.concatenate([h2, h1 * h2], axis=1) if residual == "concat" else h2 + h1 * h2


def gate_golden(e, weight, bias, residual):
    """G[:, :, d] = W E[:, :, d] + b for every dim d; [E, E * G] (concat) or E + E * G (sum)."""
    gates = np.einsum("fg,bgd->bfd", weight, e) + bias[None, :, None]
    return np.concatenate([e, e * gates], axis=1) if residual == "concat" else e + e * gates


@pytest.mark.parametrize("residual, gate_residual", [("concat", "concat"), ("sum", "sum"), ("concat", "sum")])
def test_final_blocks_and_loss_golden(residual, gate_residual):
    """From the embeddings to the 2B loss: gate, factorized interaction and both heads, with no BN,
    activation or dropout, so every step is the formula itself."""
    net = FinalStudent(2, 2, hidden_units=(2,), block2_hidden_units=(2,), dropout=0.0, batch_norm=False,
                       activation=None, residual=residual, gate_residual=gate_residual, blocks=2).double().eval()
    rng = np.random.RandomState(0)
    weights = {}
    with torch.no_grad():
        for name, param in net.named_parameters():
            value = np.round(rng.uniform(-1, 1, size=tuple(param.shape)), 2)
            param.copy_(t64(value))
            weights[name] = value
    w = weights
    e = EMBEDDINGS
    gated = gate_golden(e, w["gate.linear.weight"], w["gate.linear.bias"], gate_residual).reshape(len(e), -1)
    h1 = factorized_golden(gated, w["block1.layers.0.linear.weight"], w["block1.layers.0.linear.bias"], residual)
    z1 = h1 @ w["fc1.weight"][0] + w["fc1.bias"][0]
    h2 = factorized_golden(e.reshape(len(e), -1), w["block2.layers.0.linear.weight"], w["block2.layers.0.linear.bias"], residual)
    z2 = h2 @ w["fc2.weight"][0] + w["fc2.bias"][0]

    got_z1, got_z2 = net.forward_blocks(t64(e))
    close(got_z1, z1)
    close(got_z2, z2)
    logit, hidden = net.forward_hidden(t64(e))
    close(logit, 0.5 * (z1 + z2))
    close(hidden, np.concatenate([h1, h2], axis=1))
    z = np.stack([z1, z2], axis=1)
    close(final_loss(torch.stack([got_z1, got_z2], dim=1), t64(Y)), final_golden(z, Y))
