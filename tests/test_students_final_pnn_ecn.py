"""FINAL, PNN and ECN students: shapes, gradients, parameter checksums (the published parameter counts), training."""
import pytest
import torch

from skctr.nn import KDEF
from skctr.nn.students import ecn, final  # importing the modules registers the students
from skctr.nn.students import create_student
from skctr.nn.students.ecn import ECNStudent
from skctr.nn.students.final import FinalStudent
from skctr.nn.students.pnn import PNNStudent
from skctr.preprocessing import Field, FieldSpec
from test_nn import assert_learns_xor, toy_problem  # tests/ is on sys.path


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def spec_with_rows(n_fields, total_rows):
    base = total_rows // n_fields
    sizes = [base] * (n_fields - 1) + [total_rows - base * (n_fields - 1)]
    return FieldSpec(Field(f"f{i}", "categorical", size) for i, size in enumerate(sizes))


SMALL = {
    "pnn": {"hidden_units": (8, 6)},
    "final": {"hidden_units": (8, 6)},
    "final_2b": {"hidden_units": (8, 6), "blocks": 2, "block2_hidden_units": (4,)},
    "final_sum": {"hidden_units": (7, 5), "residual": "sum", "gate_residual": "sum", "activation": None},
    "ecn": {"num_cross_layers": 2, "batch_norm": True},
    "ecn_heads": {"num_cross_layers": 2, "num_heads": 2, "batch_norm": True, "layer_norm": False},
}


def build(key, num_fields=5, dim=4):
    return create_student((key.split("_")[0], SMALL[key]), num_fields, dim)


@pytest.mark.parametrize("key", sorted(SMALL))
def test_output_shape_and_gradient_reaches_every_parameter(key):
    torch.manual_seed(0)
    net = build(key)
    embeddings = torch.randn(6, 5, 4, requires_grad=True)
    out = net(embeddings)
    assert out.shape == (6,)
    out.square().sum().backward()
    assert embeddings.grad.abs().sum() > 0
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    net.eval()
    assert net(embeddings[:1]).shape == (1,)


@pytest.mark.parametrize(
    "cls, params, n_fields, total",
    [
        (PNNStudent, {}, 39, 870_001),
        (PNNStudent, {}, 7, 377_201),
        (FinalStudent, {}, 39, 824_761),
        (FinalStudent, {}, 7, 413_657),
        (ECNStudent, {"num_cross_layers": 4, "batch_norm": True}, 39, 784_377),
        (ECNStudent, {"num_cross_layers": 2, "batch_norm": True}, 7, 13_109),
    ],
)
def test_ektf_l_student_checksums(cls, params, n_fields, total):
    assert n_params(cls(n_fields, 16, **params)) == total


def test_checksum_parts():
    assert n_params(FinalStudent(39, 16).gate) == 1_560
    layer = ECNStudent(39, 16, num_cross_layers=4, batch_norm=True).layers[0]
    assert n_params(layer) == 195_938
    assert n_params(ECNStudent(39, 16, num_cross_layers=4, batch_norm=False).layers[0]) == 195_936


@pytest.mark.parametrize(
    "n_fields, rows, ecn_layers, total",
    [(39, 910_747, 4, 17_051_091), (7, 9_751, 2, 959_983)],
)
def test_ektf_l_totals(n_fields, rows, ecn_layers, total):
    students = ["pnn", ("final", {}), ("ecn", {"num_cross_layers": ecn_layers})]
    shared = {"hidden_units": [400] * 3, "batch_norm": True}
    model = KDEF(spec_with_rows(n_fields, rows), 16, students, shared_params=shared)
    assert n_params(model.embedding) == rows * 16
    assert n_params(model) == total


def test_pnn_inner_products_row_major():
    net = PNNStudent(4, 3, hidden_units=(2,))
    embeddings = torch.randn(2, 4, 3)
    expected = [(embeddings[:, i] * embeddings[:, j]).sum(-1) for i in range(4) for j in range(i + 1, 4)]
    torch.testing.assert_close(net.inner_products(embeddings), torch.stack(expected, 1))


def test_final_identity_gate_starts_at_e_e():
    net = FinalStudent(5, 4, gate_init="identity")
    assert torch.count_nonzero(net.gate.linear.weight) == 0
    embeddings = torch.randn(3, 5, 4)
    torch.testing.assert_close(net.gate(embeddings), torch.cat([embeddings, embeddings], 1), rtol=0, atol=0)
    sum_gate = FinalStudent(5, 4, gate_init="identity", gate_residual="sum").gate
    torch.testing.assert_close(sum_gate(embeddings), 2 * embeddings, rtol=0, atol=0)
    default = FinalStudent(5, 4).gate.linear
    assert torch.count_nonzero(default.bias) == 0 and torch.count_nonzero(default.weight) > 0


def test_final_residual_sum_vs_concat():
    concat = FinalStudent(5, 4, hidden_units=(8, 6), field_gate=False, batch_norm=False)
    summed = FinalStudent(5, 4, hidden_units=(8, 6), field_gate=False, batch_norm=False, residual="sum")
    def widths(net):
        return [layer.linear.out_features for layer in net.block1.layers if isinstance(layer, final.FactorizedInteraction)]

    assert widths(concat) == [8, 6]
    assert widths(summed) == [16, 12]
    assert n_params(concat) == (20 * 8 + 8) + (8 * 6 + 6) + 7
    assert n_params(summed) == (20 * 16 + 16) + (8 * 12 + 12) + 7
    x = torch.randn(3, 20)
    layer = final.FactorizedInteraction(20, 6, "concat")
    h2, h1 = layer.linear(x)[:, :3], layer.linear(x)[:, 3:]
    torch.testing.assert_close(layer(x), torch.cat([h2, h1 * h2], 1))
    layer = final.FactorizedInteraction(20, 6, "sum")
    h2, h1 = layer.linear(x)[:, :6], layer.linear(x)[:, 6:]
    torch.testing.assert_close(layer(x), h2 + h1 * h2)
    assert FinalStudent(5, 4, hidden_units=(8,), gate_residual="sum").block1.layers[0].linear.in_features == 20
    assert FinalStudent(5, 4, hidden_units=(8,)).block1.layers[0].linear.in_features == 40


def test_final_errors():
    with pytest.raises(ValueError, match="hidden_units"):
        FinalStudent(5, 4, hidden_units=(8, 7))
    with pytest.raises(ValueError, match="block2_hidden_units"):
        FinalStudent(5, 4, blocks=2, block2_hidden_units=(5,))
    FinalStudent(5, 4, hidden_units=(7,), residual="sum")  # odd widths are fine with "sum"
    with pytest.raises(ValueError, match="blocks"):
        FinalStudent(5, 4, blocks=3)
    with pytest.raises(ValueError, match="gate_init"):
        FinalStudent(5, 4, gate_init="zeros")
    with pytest.raises(ValueError, match="activation"):
        FinalStudent(5, 4, activation="swishy")


def test_final_two_blocks_mean_of_block_logits():
    torch.manual_seed(0)
    net = FinalStudent(5, 4, hidden_units=(8,), blocks=2, block2_hidden_units=(6, 4)).eval()
    embeddings = torch.randn(3, 5, 4)
    z1, z2 = net.forward_blocks(embeddings)
    assert z1.shape == z2.shape == (3,)
    torch.testing.assert_close(net(embeddings), 0.5 * (z1 + z2))
    assert net.block2.layers[0].linear.in_features == 20  # block 2 reads the raw, ungated embedding
    (single,) = FinalStudent(5, 4, hidden_units=(8,)).forward_blocks(embeddings)
    assert single.shape == (3,)


def test_ecn_reorder_and_errors():
    net = ECNStudent(2, 4, num_heads=2, num_cross_layers=1)
    embeddings = torch.arange(8.0).reshape(1, 2, 4)  # field 0: 0 1 2 3, field 1: 4 5 6 7
    assert net.reorder(embeddings).tolist() == [[[0, 4, 1, 5], [2, 6, 3, 7]]]
    one_head = ECNStudent(2, 4, num_cross_layers=1)
    assert one_head.reorder(embeddings).tolist() == [[[0, 1, 4, 5, 2, 3, 6, 7]]]
    with pytest.raises(ValueError, match="even"):
        ECNStudent(3, 5)
    with pytest.raises(ValueError, match="num_heads"):
        ECNStudent(3, 4, num_heads=3)
    with pytest.raises(ValueError, match="even"):
        ECNStudent(3, 6, num_heads=2)
    layer = ECNStudent(3, 4).layers[0]
    assert layer.linear.bias is None
    assert 0 <= layer.bias.min() and layer.bias.max() <= 1 and layer.bias.std() > 0


def test_ecn_layer_formula():
    torch.manual_seed(0)
    layer = ecn.ExponentialCrossLayer(6, 1, layer_norm=True, batch_norm=False, dropout=0.0)
    x = torch.randn(4, 1, 6)
    h = x @ layer.linear.weight.T
    mask = torch.relu(torch.nn.functional.layer_norm(h, (3,), layer.layer_norm.weight, layer.layer_norm.bias))
    torch.testing.assert_close(layer(x), x * (torch.cat([h, h * mask], -1) + layer.bias) + x)


@pytest.mark.parametrize("student", [
    ("pnn", {"hidden_units": (16,), "dropout": 0.0}),
    ("final", {"hidden_units": (16,), "dropout": 0.0}),
    ("final", {"hidden_units": (16,), "dropout": 0.0, "blocks": 2, "block2_hidden_units": (16,), "gate_init": "identity"}),
    ("ecn", {"num_cross_layers": 2, "dropout": 0.0}),
])
def test_a_few_adam_steps_reduce_the_loss(student):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem()
    assert_learns_xor(KDEF(spec, 8, [student]), ids, values, y)
