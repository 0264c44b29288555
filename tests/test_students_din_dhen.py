"""DIN (target attention over behaviour sequences) and DHEN (hierarchical ensemble of interaction modules)."""
import pytest
import torch
from torch import nn

from skctr.nn import SingleNetwork
from skctr.nn.embedding import SequenceEmbedding, SequenceSlot
from skctr.nn.students.dhen import MODULES, DHENStudent, SlotProjection
from skctr.nn.students.din import Dice, DINStudent, TargetAttention
from skctr.nn.students.registry import create_student, student_hyperparameters
from skctr.preprocessing import Field, FieldSpec
from test_nn import adam_losses, assert_learns_xor, toy_problem  # tests/ is on sys.path (rootdir conftest, prepend import mode)

# Fields: 0 user, 1 item, 2 history of items (target: item), 3 tags (a sequence without a target).
LAYOUT = (SequenceSlot(2, 1), SequenceSlot(3, None))
NUM_FIELDS, DIM, LENGTH = 4, 4, 5
SMALL_DIN = {"hidden_units": (8, 6), "attention_hidden_units": (6,)}


def din(**params):
    return create_student(("din", {**SMALL_DIN, **params}), NUM_FIELDS, DIM, sequence_layout=LAYOUT)


def din_inputs(batch=6, seed=0):
    """Field embedding, one SequenceEmbedding per slot; row 0's history is all padding, row 1's is full."""
    gen = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(batch, NUM_FIELDS, DIM, generator=gen)
    sequences = []
    for _ in LAYOUT:
        lengths = torch.randint(0, LENGTH + 1, (batch,), generator=gen)
        lengths[0], lengths[1] = 0, LENGTH
        mask = torch.arange(LENGTH) < lengths.unsqueeze(1)
        sequences.append(SequenceEmbedding(torch.randn(batch, LENGTH, DIM, generator=gen), mask))
    return embeddings, sequences


def assert_every_parameter_gets_a_gradient(model, loss):
    model.zero_grad()
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing


# ----------------------------------------------------------------------------------------------------- DIN


def test_din_registered_with_shared_params():
    params = student_hyperparameters("din")
    assert {"hidden_units", "dropout", "batch_norm"} <= set(params)
    assert params["attention_hidden_units"] == (64,) and params["attention_activation"] == "dice"
    assert params["use_softmax"] is False
    model = create_student("din", NUM_FIELDS, DIM, sequence_layout=LAYOUT)
    assert isinstance(model, DINStudent) and model.reads_sequences
    assert model.hidden_dim == 500


@pytest.mark.parametrize("params", [
    {}, {"use_softmax": True}, {"attention_activation": "relu", "batch_norm": True, "dropout": 0.1},
    {"hidden_units": ()}, {"attention_hidden_units": (6, 4), "attention_dropout": 0.1},
])
def test_din_output_shapes(params):
    torch.manual_seed(0)
    model = din(**params)
    embeddings, sequences = din_inputs()
    logit, hidden = model.forward_hidden(embeddings, sequences)
    assert logit.shape == (6,) and hidden.shape == (6, model.hidden_dim)
    assert model.hidden_dim == (params.get("hidden_units", SMALL_DIN["hidden_units"]) or (NUM_FIELDS * DIM,))[-1]
    model.eval()
    torch.testing.assert_close(model(embeddings, sequences), model.forward_hidden(embeddings, sequences)[0])
    one = model(embeddings[:1], [SequenceEmbedding(s.embeddings[1:2], s.mask[1:2]) for s in sequences])
    assert one.shape == (1,) and torch.isfinite(one).all()


def test_din_needs_a_sequence_with_a_target():
    for layout in [(), (SequenceSlot(3, None),)]:
        with pytest.raises(ValueError, match="DIN needs a behaviour-sequence field with a target"):
            create_student("din", NUM_FIELDS, DIM, sequence_layout=layout)
    with pytest.raises(ValueError, match="outside"):
        DINStudent(NUM_FIELDS, DIM, (SequenceSlot(2, 7),))
    with pytest.raises(ValueError, match="attention_activation"):
        din(attention_activation="prelu")
    with pytest.raises(ValueError, match="unpooled behaviour sequences"):
        din()(torch.randn(2, NUM_FIELDS, DIM))


@pytest.mark.parametrize("use_softmax", [False, True])
def test_din_padding_only_history_gives_the_empty_pool(use_softmax):
    torch.manual_seed(0)
    model = din(use_softmax=use_softmax)
    embeddings, sequences = din_inputs()
    empty = [SequenceEmbedding(sequences[0].embeddings, torch.zeros_like(sequences[0].mask)), sequences[1]]
    for train in (True, False):
        model.train(train)
        logit = model(embeddings, empty)
        assert torch.isfinite(logit).all()
        # The attended slot becomes zeros, the mean pool of an empty sequence, whatever E held there.
        pooled = embeddings.clone()
        pooled[:, 2] = 0.0
        if not train:
            torch.testing.assert_close(logit, model.dnn(pooled.flatten(1)).squeeze(-1))
            torch.testing.assert_close(model(embeddings, empty), logit, rtol=0, atol=0)
    # Row 0 of din_inputs has an empty history next to real ones: still finite, with a gradient.
    model.train()
    logit = model(embeddings, sequences)
    assert torch.isfinite(logit).all()
    assert_every_parameter_gets_a_gradient(model, logit.square().sum())


@pytest.mark.parametrize("use_softmax", [False, True])
def test_din_attention_ignores_padding(use_softmax):
    torch.manual_seed(0)
    model = din(use_softmax=use_softmax)
    embeddings, sequences = din_inputs()
    history, mask = sequences[0]
    assert (~mask).any()
    changed = history.masked_scatter(~mask.unsqueeze(-1), 100 * torch.randn(history.shape))
    moved = [SequenceEmbedding(changed, mask), sequences[1]]
    for train in (True, False):  # in training Dice normalises with batch statistics: padding must stay out of them
        model.train(train)
        assert torch.equal(model(embeddings, sequences), model(embeddings, moved))


def test_din_softmax_weights_sum_to_one_over_real_items():
    torch.manual_seed(0)
    model = din(use_softmax=True)
    embeddings, sequences = din_inputs(batch=8)
    history, mask = sequences[0]
    weights = model.attentions[0].weights(embeddings[:, 1], history, mask)
    assert torch.isfinite(weights).all() and (weights[~mask] == 0).all()
    has_items = mask.any(1)
    assert not has_items.all()
    torch.testing.assert_close(weights.sum(1)[has_items], torch.ones(int(has_items.sum())))
    assert (weights[~has_items] == 0).all()
    # Unnormalised (the default): padding is zero too, the real weights are free.
    raw = din().attentions[0].weights(embeddings[:, 1], history, mask)
    assert (raw[~mask] == 0).all()


def test_din_attention_matches_a_hand_computation():
    torch.manual_seed(0)
    model = din(attention_activation="relu").eval()
    attention = model.attentions[0]
    embeddings, sequences = din_inputs()
    history, mask = sequences[0]
    target = embeddings[:, 1:2].expand_as(history)
    scores = attention.mlp(torch.cat([target, history, target - history, target * history], -1)).squeeze(-1)
    expected_pool = ((scores * mask).unsqueeze(-1) * history).sum(1)
    fields = embeddings.clone()
    fields[:, 2] = expected_pool
    torch.testing.assert_close(model(embeddings, sequences), model.dnn(fields.flatten(1)).squeeze(-1))


def test_dice():
    torch.manual_seed(0)
    dice = Dice(3)
    assert torch.equal(dice.alpha, torch.zeros(3)) and dice.bn.affine is False
    assert dice.bn.eps == 1e-9 and dice.bn.momentum == 0.01
    x = torch.randn(4, 5, 3)
    flat = dice(x.reshape(20, 3))
    torch.testing.assert_close(dice(x), flat.reshape(4, 5, 3))
    mean, var = x.reshape(20, 3).mean(0), x.reshape(20, 3).var(0, unbiased=False)
    torch.testing.assert_close(flat, torch.sigmoid((x.reshape(20, 3) - mean) / (var + 1e-9).sqrt()) * x.reshape(20, 3))
    with torch.no_grad():
        dice.alpha.fill_(0.5)
    tracked, running_mean = dice.bn.num_batches_tracked.item(), dice.bn.running_mean.clone()
    row = torch.tensor([[-2.0, 0.0, 2.0]])
    out = dice(row)  # one row in training: normalised with the running statistics, which stay as they are
    assert dice.bn.num_batches_tracked.item() == tracked and torch.equal(dice.bn.running_mean, running_mean)
    p = torch.sigmoid((row - running_mean) / (dice.bn.running_var + 1e-9).sqrt())
    torch.testing.assert_close(out, p * row + 0.5 * (1 - p) * row)
    assert dice(torch.empty(0, 3)).shape == (0, 3)


SPEC = FieldSpec([
    Field("user", "categorical", 6),
    Field("item", "categorical", 8),
    Field("price", "numeric"),
    Field("history", "sequence", 8, max_len=3, target="item"),
    Field("tags", "sequence", 5, max_len=2),
])


def target_in_history(n=256, seed=0):
    """Label = the candidate item occurs in the (padded, possibly empty) history: needs target attention."""
    gen = torch.Generator().manual_seed(seed)
    item = torch.randint(3, 8, (n,), generator=gen)
    history = torch.randint(3, 8, (n, 3), generator=gen)
    history[torch.arange(3) >= torch.randint(0, 4, (n, 1), generator=gen)] = 0
    user = torch.randint(3, 6, (n, 1), generator=gen)
    tags = torch.randint(0, 5, (n, 2), generator=gen)
    ids = torch.cat([user, item[:, None], history, tags], 1)
    y = (history == item[:, None]).any(1).float()
    return ids, torch.randn(n, 1, generator=gen), y


def test_din_through_a_real_field_embedding():
    torch.manual_seed(0)
    model = SingleNetwork(SPEC, 4, ("din", SMALL_DIN))
    assert model.embedding.sequence_layout == (SequenceSlot(3, 1), SequenceSlot(4, None))
    assert len(model.student.attentions) == 1
    ids, values, y = target_in_history(16)
    ids[0, 2:5] = 0  # a new user
    logit, _ = model(ids, values)
    assert logit.shape == (16,) and torch.isfinite(logit).all()
    # The history shares the item table: its rows get a gradient through the attention.
    model.loss((logit,), y).backward()
    history_rows = ids[:, 2:5][ids[:, 2:5] > 0] + model.embedding.column_offsets[2]
    assert (model.embedding.weight.grad[history_rows].abs().sum(1) > 0).all()
    assert all(p.grad is not None for p in model.student.parameters())


@pytest.mark.parametrize("use_softmax", [False, True])
def test_din_learns_target_in_history(use_softmax):
    torch.manual_seed(0)
    ids, values, y = target_in_history()
    model = SingleNetwork(SPEC, 8, ("din", {"hidden_units": (16,), "attention_hidden_units": (16,),
                                              "use_softmax": use_softmax}))
    model.embedding.weight.data.normal_(std=0.1)
    losses = adam_losses(model, ids, values, y, 80)
    assert losses[-1] < 0.25 * losses[0]
    # Evaluation uses Dice's running statistics (momentum 0.01), still far from settled after 80 steps.
    for train in (True, False):
        model.train(train)
        assert ((model(ids, values)[0] > 0).float() == y).float().mean() > 0.9


# ---------------------------------------------------------------------------------------------------- DHEN

SMALL_DHEN = {"hidden_units": (8,), "num_layers": 2, "output_slots": 2, "cross_layers": 1, "num_heads": 2}


def dhen(num_fields=3, embedding_dim=4, **params):
    return create_student(("dhen", {**SMALL_DHEN, **params}), num_fields, embedding_dim)


def test_dhen_registered_with_shared_params():
    params = student_hyperparameters("dhen")
    assert {"hidden_units", "dropout", "batch_norm"} <= set(params)
    assert params["modules"] == ("dot", "dcn") and params["num_layers"] == 2 and params["output_slots"] is None
    model = create_student("dhen", 3, 4)
    assert isinstance(model, DHENStudent) and not model.reads_sequences
    assert model.output_slots == 6 and model.hidden_dim == 400  # two modules of num_fields slots each
    assert model(torch.randn(2, 3, 4)).shape == (2,)


@pytest.mark.parametrize("modules", [(name,) for name in MODULES] + [("dot", "dcn"), MODULES, ("linear", "linear")])
def test_dhen_modules_build_and_run(modules):
    torch.manual_seed(0)
    model = dhen(modules=modules, batch_norm=True, dropout=0.1)
    x = torch.randn(5, 3, 4)
    logit, hidden = model.forward_hidden(x)
    assert logit.shape == (5,) and hidden.shape == (5, model.hidden_dim) and model.hidden_dim == 8
    assert model.output_slots == 2 * len(modules)
    model.eval()
    torch.testing.assert_close(model(x), model.forward_hidden(x)[0])
    assert model(x[:1]).shape == (1,)
    model.train()
    assert_every_parameter_gets_a_gradient(model, model(x).square().sum())


def test_dhen_shortcut_is_a_slot_projection_when_the_counts_differ():
    model = dhen(modules=("dot", "linear"), output_slots=None, hidden_units=())
    first, second = model.layers
    assert isinstance(first.shortcut, SlotProjection)  # 3 slots -> 2 modules x 3
    assert first.shortcut.linear.weight.shape == (6, 3) and first.shortcut.linear.bias is None
    assert isinstance(second.shortcut, nn.Identity) and model.output_slots == 6
    assert model.hidden_dim == 6 * 4  # no hidden layer: the head reads flatten(X_N)
    same = dhen(modules=("linear",), output_slots=3, num_layers=1)
    assert isinstance(same.layers[0].shortcut, nn.Identity)
    x = torch.randn(4, 3, 4)
    layer = same.layers[0]
    torch.testing.assert_close(layer(x), layer.norm(layer.interactions[0](x) + x))
    weight = layer.interactions[0].linear.weight
    torch.testing.assert_close(layer.interactions[0](x), torch.einsum("bmd,lm->bld", x, weight))


def test_dhen_dot_module_reads_only_dot_products():
    torch.manual_seed(0)
    dot = dhen(modules=("dot",), embedding_dim=4).layers[0].interactions[0]
    x = torch.randn(5, 3, 4)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4))
    torch.testing.assert_close(dot(x @ rotation), dot(x), rtol=1e-4, atol=1e-5)


def test_dhen_invalid_parameters():
    with pytest.raises(ValueError, match="among \\('dot', 'self_attention', 'linear', 'dcn'\\)"):
        dhen(modules=("dot", "cnn"))
    with pytest.raises(ValueError, match="non-empty"):
        dhen(modules=())
    with pytest.raises(ValueError, match="num_layers"):
        dhen(num_layers=0)
    with pytest.raises(ValueError, match="num_heads"):
        dhen(modules=("self_attention",), num_heads=3)
    with pytest.raises(ValueError, match="at least 2 slots"):
        dhen(num_fields=1, modules=("dot",))
    assert dhen(modules="linear").module_names == ("linear",)


@pytest.mark.parametrize("modules", [("dot", "dcn"), ("self_attention", "linear")])
def test_dhen_learns_xor(modules):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    params = {**SMALL_DHEN, "hidden_units": (16,), "modules": modules}
    assert_learns_xor(SingleNetwork(spec, 8, ("dhen", params)), ids, values, y)


@pytest.mark.parametrize("use_softmax", [False, True])
def test_target_attention_in_evaluation_scores_each_real_item_alone(use_softmax):
    """The evaluation path scores padded rows too (static shapes for export); it must equal scoring each real
    item by itself and giving padding weight 0."""
    torch.manual_seed(0)
    attention = TargetAttention(4, (8, 6), use_softmax=use_softmax)
    attention(torch.randn(16, 4), torch.randn(16, 5, 4), torch.ones(16, 5))  # moves Dice's running statistics
    attention.eval()
    target, history = torch.randn(3, 4), torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    with torch.no_grad():
        weights = attention.weights(target, history, mask)
        expected = torch.zeros(3, 5)
        for b in range(3):
            for position in range(5):
                if mask[b, position]:
                    t, s = target[b], history[b, position]
                    expected[b, position] = attention.mlp(torch.cat([t, s, t - s, t * s]).unsqueeze(0)).squeeze()
        if use_softmax:
            expected = expected.masked_fill(mask == 0, torch.finfo(expected.dtype).min).softmax(-1) * mask
    torch.testing.assert_close(weights, expected)
