"""Field embedding, MLP block, student registry, parameter checksums (the published parameter counts), training."""
import pytest
import torch

from skctr.nn import KDEF, FieldEmbedding, MLPBlock, SingleNetwork, available_students, create_student
from skctr.nn.students import resolve_student_params
from skctr.preprocessing import Field, FieldSpec


def n_params(module):
    return sum(p.numel() for p in module.parameters())


def spec_with_rows(n_fields, total_rows):
    """n_fields categorical fields whose vocabularies add up to total_rows embedding rows."""
    base = total_rows // n_fields
    sizes = [base] * (n_fields - 1) + [total_rows - base * (n_fields - 1)]
    return FieldSpec(Field(f"f{i}", "categorical", size) for i, size in enumerate(sizes))


@pytest.mark.parametrize(
    "n_fields, dim, hidden, n_students, rows, total",
    [
        (39, 16, [400] * 3, 2, 910_747, 15_719_154),  # EKTF Criteo N=2
        (39, 16, [400] * 3, 3, 910_747, 16_292_755),  # EKTF Criteo N=3
        (13, 128, [1000] * 3, 10, 91_756, 48_484_778),  # EKTF KKBox N=10
    ],
)
def test_kdef_parameter_checksums(n_fields, dim, hidden, n_students, rows, total):
    model = KDEF(spec_with_rows(n_fields, rows), dim, ["mlp"] * n_students, shared_params={"hidden_units": hidden})
    assert n_params(model) == total


def test_mlp_student_checksum():
    assert n_params(create_student("mlp", 39, 16)) == 573_601  # 624 -> 400 -> 400 -> 400 -> 1 with BN


def test_mlp_block_layer_order():
    block = MLPBlock(8, [4, 3], 1, dropout=0.5, batch_norm=True)
    kinds = [type(layer).__name__ for layer in block.layers]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2 + ["Linear"]
    assert all(torch.count_nonzero(layer.bias) == 0 for layer in block.layers if isinstance(layer, torch.nn.Linear))


def test_field_embedding_layout_pooling_and_sharing():
    spec = FieldSpec([
        Field("item", "categorical", 6),
        Field("price", "numeric"),
        Field("tags", "sequence", 5, max_len=3),
        Field("history", "sequence", 6, max_len=2, target="item"),
    ])
    emb = FieldEmbedding(spec, 4)
    assert emb.weight.shape == (6 + 5, 4)  # history shares item's rows
    with torch.no_grad():
        emb.weight.copy_(torch.arange(44, dtype=torch.float32).reshape(11, 4))
        emb.numeric_weight.fill_(2.0)
    ids = torch.tensor([[3, 3, 4, 0, 5, 0], [4, 0, 0, 0, 0, 0]])
    values = torch.tensor([[1.5], [-1.0]])
    out = emb(ids, values)
    assert out.shape == (2, 4, 4)
    torch.testing.assert_close(out[0, 0], emb.weight[3])
    torch.testing.assert_close(out[0, 1], torch.full((4,), 3.0))
    torch.testing.assert_close(out[0, 2], (emb.weight[6 + 3] + emb.weight[6 + 4]) / 2)  # padding excluded
    torch.testing.assert_close(out[0, 3], emb.weight[5])  # the item table, shared
    torch.testing.assert_close(out[1, 2], torch.zeros(4))  # an empty sequence pools to zeros
    torch.testing.assert_close(out[1, 3], torch.zeros(4))


def test_embedding_init_and_penalty():
    emb = FieldEmbedding(spec_with_rows(4, 20_000), 16)
    assert emb.weight.std().item() == pytest.approx(1e-4, rel=0.05)
    assert emb.l2_penalty().item() == pytest.approx(0.5 * emb.weight.square().sum().item())


def test_registry():
    assert "mlp" in available_students()
    with pytest.raises(ValueError, match="Unknown student 'nope'"):
        create_student("nope", 3, 4)
    with pytest.raises(ValueError, match="no parameter"):
        create_student(("mlp", {"width": 3}), 3, 4)
    name, params = resolve_student_params(("mlp", {"dropout": 0.5}), {"dropout": 0.1, "hidden_units": (8,)})
    assert (name, params) == ("mlp", {"hidden_units": (8,), "dropout": 0.5})


def toy_problem(n=512, seed=0):
    """Label = XOR of two categorical fields: needs an interaction to learn."""
    gen = torch.Generator().manual_seed(seed)
    a, b = torch.randint(0, 2, (n,), generator=gen), torch.randint(0, 2, (n,), generator=gen)
    ids = torch.stack([a + 3, b + 3], 1)
    spec = FieldSpec([Field("a", "categorical", 5), Field("b", "categorical", 5)])
    return spec, ids, torch.zeros(n, 0), (a ^ b).float()


def adam_losses(model, ids, values, y, steps, lr=1e-2):
    """Train with Adam on ``model.loss`` for ``steps`` full-batch steps; the loss before each step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = model.loss(model(ids, values), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def assert_learns_xor(model, ids, values, y, steps=60):
    """A few Adam steps at least halve the loss and fit the toy XOR labels exactly."""
    model.embedding.weight.data.normal_(std=0.1)
    losses = adam_losses(model, ids, values, y, steps)
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    assert ((model(ids, values)[0] > 0).float() == y).float().mean() == 1.0


@pytest.mark.parametrize("build", [
    lambda spec: KDEF(spec, 8, ["mlp"] * 3, shared_params={"hidden_units": (16,), "dropout": 0.0}),
    lambda spec: SingleNetwork(spec, 8, ("mlp", {"hidden_units": (16,), "dropout": 0.0})),
])
def test_a_few_steps_reduce_the_loss(build):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem()
    assert_learns_xor(build(spec), ids, values, y)


def test_gradient_reaches_embedding_and_every_student():
    spec, ids, values, y = toy_problem(64)
    model = KDEF(spec, 4, ["mlp"] * 3, shared_params={"hidden_units": (8,)})
    model.loss(model(ids, values), y).backward()
    assert model.embedding.weight.grad.abs().sum() > 0
    for student in model.students:
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in student.parameters())
