"""TF4CTR: twin focus loss by hand, parameter checksum, every SSEM and fusion variant."""
import math

import pytest
import torch

from skctr.nn.tf4ctr import FUSION_MODES, SSEM_MODES, TF4CTR, check_twin_focus_params, twin_focus_loss
from test_nn import assert_learns_xor, spec_with_rows, toy_problem


def bce(p, y):
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


@pytest.mark.parametrize("alpha, c, gamma", [(0.25, 0.8, 2.0), (0.35, 0.9, 1.0), (0.15, 0.7, 3.0), (0.5, 1.0, 2.0), (0.2, 0.5, 0.0)])
@pytest.mark.parametrize("y", [1.0, 0.0])
def test_twin_focus_loss_by_hand(alpha, c, gamma, y):
    # simple branch p = 0.5, complex branch p = 0.75; p_t uses 1 - p for negatives
    p_s, p_c = 0.5, 0.75
    pt_s = p_s if y == 1 else 1 - p_s
    pt_c = p_c if y == 1 else 1 - p_c
    expected = alpha * (c + pt_s) ** gamma * bce(p_s, y) + (1 - alpha) * ((2 - c) - pt_c) ** gamma * bce(p_c, y)
    got = twin_focus_loss(torch.tensor([0.0]), torch.tensor([math.log(3)]), torch.tensor([y]), alpha=alpha, c=c, gamma=gamma)
    assert got.item() == pytest.approx(expected, rel=1e-6)


def test_default_values_by_hand():
    # alpha 0.25, c 0.8, gamma 2; positive sample: easy (1.3)^2 ln 2, hard (0.45)^2 (-ln 0.75)
    got = twin_focus_loss(torch.tensor([0.0]), torch.tensor([math.log(3)]), torch.tensor([1.0]))
    assert got.item() == pytest.approx(0.25 * 1.69 * math.log(2) + 0.75 * 0.2025 * -math.log(0.75), rel=1e-6)


def test_c_one_is_the_focal_loss_on_the_complex_branch():
    z, y = torch.tensor([1.3, -0.4, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    p = torch.sigmoid(z)
    pt = y * p + (1 - y) * (1 - p)
    focal = ((1 - pt) ** 2 * torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none")).mean()
    torch.testing.assert_close(twin_focus_loss(z, z, y, alpha=0.0, c=1.0, gamma=2.0), focal)


def test_modulating_factors_carry_gradient():
    z = torch.tensor([0.7], requires_grad=True)
    twin_focus_loss(z, torch.tensor([0.0]), torch.tensor([1.0]), alpha=1.0, c=0.8, gamma=2.0).backward()
    p = torch.sigmoid(z.detach())
    # d/dz of (c+p)^2 * -log p = 2(c+p) p(1-p) (-log p) + (c+p)^2 (p - 1)
    expected = 2 * (0.8 + p) * p * (1 - p) * -torch.log(p) + (0.8 + p) ** 2 * (p - 1)
    torch.testing.assert_close(z.grad, expected)


@pytest.mark.parametrize("alpha, c, gamma, name", [(1.5, 0.8, 2, "alpha"), (0.25, 1.2, 2, "c"), (0.25, -0.1, 2, "c"), (0.25, 0.8, -1, "gamma")])
def test_invalid_loss_settings(alpha, c, gamma, name):
    with pytest.raises(ValueError, match=name):
        check_twin_focus_params(alpha, c, gamma)


def test_parameter_checksum_criteo_ser_wsf():
    # TF4CTRv2 on Criteo, SER/WSF, easy [400, 400], hard [400]*3: 22,719,132 in the reference log.
    model = TF4CTR(spec_with_rows(39, 910_747), 16)
    assert sum(p.numel() for p in model.parameters()) == 22_719_132
    assert model.simple_embedding.weight.shape[1] == 8
    assert model.fusion_weights.tolist() == [0.5, 0.5]


@pytest.mark.parametrize("ssem", SSEM_MODES)
@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_every_variant_trains_and_predicts_deterministically(ssem, fusion):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    model = TF4CTR(spec, 8, ssem=ssem, fusion=fusion, simple_hidden_units=(16,), complex_hidden_units=(16, 16), dropout=0.0, batch_norm=False)
    fused, branches = model(ids, values)
    assert fused.shape == (256,) and branches.shape == (256, 2)
    assert_learns_xor(model, ids, values, y, steps=80)
    model.eval()
    torch.testing.assert_close(model(ids, values)[0], model(ids, values)[0], rtol=0, atol=0)


@pytest.mark.parametrize("fusion", FUSION_MODES)
def test_registry_encoders_under_every_fusion(fusion):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    simple, complex_ = ("deepfm", {"hidden_units": (16,)}), ("pnn", {"hidden_units": (16,), "dropout": 0.0, "batch_norm": False})
    model = TF4CTR(spec, 8, fusion=fusion, simple_encoder=simple, complex_encoder=complex_)
    assert (model.simple_encoder.hidden_dim, model.complex_encoder.hidden_dim) == (1 + 1 + 16, 16)
    assert_learns_xor(model, ids, values, y, steps=80)


def test_vote_is_stochastic_only_in_training():
    torch.manual_seed(0)
    spec, ids, values, _ = toy_problem(64)
    model = TF4CTR(spec, 8, fusion="vote", simple_hidden_units=(16,), complex_hidden_units=(16,), dropout=0.0, batch_norm=False)
    model.train()
    assert not torch.equal(model(ids, values)[0], model(ids, values)[0])


def test_loss_is_fused_bce_plus_twin_focus():
    spec, ids, values, y = toy_problem(32)
    model = TF4CTR(spec, 4, simple_hidden_units=(8,), complex_hidden_units=(8,)).eval()
    fused, z = model(ids, values)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(fused, y) + twin_focus_loss(z[:, 0], z[:, 1], y)
    torch.testing.assert_close(model.loss((fused, z), y), expected)


@pytest.mark.parametrize("kwargs, name", [({"ssem": "x"}, "ssem"), ({"fusion": "x"}, "fusion"), ({"tau": 0}, "tau"), ({"c": 1.2}, "c")])
def test_invalid_module_settings(kwargs, name):
    spec, *_ = toy_problem(8)
    with pytest.raises(ValueError, match=name):
        TF4CTR(spec, 4, **kwargs)
