"""CETNet: confidence fusion, symmetric KL by hand, loss, ablation switches."""
import math

import pytest
import torch

from skctr.nn.cetnet import CETNET_FUSIONS, CETNet, cetnet_loss, confidence_weights, negative_entropy, symmetric_kl
from test_nn import adam_losses, toy_problem
from test_student_contract import batch, field_spec

SMALL_MLP = ("mlp", {"hidden_units": (16,), "dropout": 0.0, "batch_norm": False})
SMALL_PNN = ("pnn", {"hidden_units": (8,), "dropout": 0.0, "batch_norm": False})


def bernoulli_kl(p, q):
    return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))


def test_negative_entropy_by_hand():
    # p = 0.5 is the least confident (-ln 2); p = 0.9: 0.9 ln 0.9 + 0.1 ln 0.1 = -0.325083
    got = negative_entropy(torch.tensor([0.0, math.log(9)], dtype=torch.float64))
    torch.testing.assert_close(got, torch.tensor([-math.log(2), 0.9 * math.log(0.9) + 0.1 * math.log(0.1)], dtype=torch.float64))
    assert torch.isfinite(negative_entropy(torch.tensor([80.0, -80.0]))).all()


def test_confidence_weights_favour_the_confident_component_and_are_detached():
    logits = torch.tensor([[math.log(9), 0.0], [0.0, -math.log(9)], [1.0, 1.0]], requires_grad=True)
    weights = confidence_weights(logits)
    torch.testing.assert_close(weights.sum(1), torch.ones(3))
    assert weights[0, 0] > weights[0, 1] and weights[1, 1] > weights[1, 0]
    torch.testing.assert_close(weights[2], torch.tensor([0.5, 0.5]))
    # By hand: softmax of (-0.325083, -ln 2) for row 0.
    c = [0.9 * math.log(0.9) + 0.1 * math.log(0.1), -math.log(2)]
    assert weights[0, 0].item() == pytest.approx(math.exp(c[0]) / (math.exp(c[0]) + math.exp(c[1])), rel=1e-6)
    assert not weights.requires_grad
    assert confidence_weights(logits, detach=False).requires_grad
    # A higher temperature flattens the weights.
    assert confidence_weights(logits, temperature=10.0)[0, 0] < weights[0, 0]


def test_symmetric_kl_by_hand():
    z = torch.tensor([[0.3, -1.2, 2.0], [0.0, 0.0, 0.5]], dtype=torch.float64)
    p = torch.sigmoid(z).tolist()
    expected = sum(
        0.5 * (bernoulli_kl(row[i], row[j]) + bernoulli_kl(row[j], row[i])) for row in p for i in range(3) for j in range(i + 1, 3)
    ) / 2
    assert symmetric_kl(z).item() == pytest.approx(expected, rel=1e-12)
    assert symmetric_kl(z[:, :1]).item() == 0.0
    assert symmetric_kl(torch.tensor([[50.0, -50.0]])).isfinite()


def test_symmetric_kl_pulls_both_components():
    z = torch.tensor([[1.0, -1.0]], requires_grad=True)
    symmetric_kl(z).backward()
    assert z.grad[0, 0] > 0 > z.grad[0, 1]  # each logit moves towards the other


def test_loss_by_hand():
    fused, components, y = torch.tensor([0.4, -0.3]), torch.tensor([[1.0, 0.2], [-0.5, 0.7]]), torch.tensor([1.0, 0.0])
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    expected = bce(fused, y) + bce(components[:, 0], y) + bce(components[:, 1], y) + 0.5 * symmetric_kl(components)
    torch.testing.assert_close(cetnet_loss(fused, components, y, kl_weight=0.5), expected)


def test_one_table_per_component_unless_shared():
    spec, *_ = toy_problem(8)
    model = CETNet(spec, 4, [SMALL_MLP, SMALL_PNN])
    assert len(model.embeddings) == 2 and model.embedding_of(0) is not model.embedding_of(1)
    shared = CETNet(spec, 4, [SMALL_MLP, SMALL_PNN], shared_embedding=True)
    assert len(shared.embeddings) == 1 and shared.embedding_of(0) is shared.embedding_of(1)
    table = sum(p.numel() for p in model.embeddings[0].parameters())
    assert sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in shared.parameters()) == table


def test_confidence_fusion_is_the_weighted_concatenation():
    torch.manual_seed(0)
    spec, ids, values, _ = toy_problem(32)
    model = CETNet(spec, 4, [SMALL_MLP, SMALL_PNN]).eval()
    for table in model.embeddings:
        table.weight.data.normal_(std=0.5)
    fused, logits = model(ids, values)
    outputs = model.component_outputs(ids, values)
    weights = confidence_weights(logits)
    h = torch.cat([weights[:, 0:1] * outputs[0][1], weights[:, 1:2] * outputs[1][1]], dim=1)
    torch.testing.assert_close(fused, model.readout(h).squeeze(-1))
    torch.testing.assert_close(logits, torch.stack([outputs[0][0], outputs[1][0]], 1))


def test_stop_gradient_switch():
    torch.manual_seed(0)
    spec, ids, values, _ = toy_problem(16)
    grads = {}
    for stop in (True, False):
        torch.manual_seed(0)
        model = CETNet(spec, 4, [SMALL_MLP, SMALL_PNN], stop_gradient=stop)
        model.embeddings[0].weight.data.normal_(std=0.5)
        model(ids, values)[0].sum().backward()
        grads[stop] = model.components[0].mlp.layers[-1].weight.grad
    # Only the fused prediction was differentiated: the component's output layer gets a gradient only through the weights.
    assert grads[True] is None and grads[False].abs().sum() > 0


@pytest.mark.parametrize("fusion", CETNET_FUSIONS)
def test_every_fusion_learns_xor(fusion):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    model = CETNet(spec, 8, [SMALL_MLP, ("mlp", {"hidden_units": (16,), "dropout": 0.0})], fusion=fusion)
    for table in model.embeddings:
        table.weight.data.normal_(std=0.1)
    losses = adam_losses(model, ids, values, y, 80)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    fused, components = model(ids, values)
    assert ((fused > 0).float() == y).all() and ((components > 0).float() == y.unsqueeze(1)).all()


def test_sum_fusion_needs_equal_widths():
    spec, *_ = toy_problem(8)
    with pytest.raises(ValueError, match="equal widths"):
        CETNet(spec, 4, [SMALL_MLP, SMALL_PNN], fusion="sum")


@pytest.mark.parametrize("kwargs, name", [
    ({"fusion": "max"}, "fusion"), ({"temperature": 0}, "temperature"), ({"kl_weight": -1}, "kl_weight"), ({"components": []}, "components"),
])
def test_invalid_settings(kwargs, name):
    spec, *_ = toy_problem(8)
    with pytest.raises(ValueError, match=name):
        CETNet(spec, 4, **{"components": [SMALL_MLP], **kwargs})


def test_sequence_components_on_their_own_tables():
    torch.manual_seed(0)
    spec = field_spec()
    model = CETNet(spec, 8, ["interformer", ("dhen", {"hidden_units": (8,)})], shared_params={"hidden_units": (8,)})
    ids, values = batch()  # includes new users with padding-only histories
    fused, logits = model(ids, values)
    assert fused.shape == (16,) and logits.shape == (16, 2) and torch.isfinite(fused).all()
    model.loss((fused, logits), torch.randint(0, 2, (16,)).float()).backward()
    assert model.embeddings[0].weight.grad.abs().sum() > 0 and model.embeddings[1].weight.grad.abs().sum() > 0
