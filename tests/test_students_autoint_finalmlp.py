"""AutoInt(+) and FinalMLP / DualMLP students: shapes, gradients, training, hand-computed forwards."""
import math

import pytest
import torch

from skctr.nn import SingleNetwork
from skctr.nn.students import create_student, student_hyperparameters
from skctr.nn.students.autoint import AutoIntStudent, MultiHeadSelfAttention
from skctr.nn.students.finalmlp import FinalMLPStudent, InteractionAggregation
from test_nn import assert_learns_xor, toy_problem  # tests/ is on sys.path (rootdir conftest, prepend import mode)

SMALL = {
    "autoint": {"attention_layers": 2, "num_heads": 2, "attention_dim": 8, "hidden_units": (16,), "batch_norm": True},
    "autoint_plain": {"attention_layers": 1, "num_heads": 1, "layer_norm": True, "use_scale": True, "hidden_units": ()},
    "finalmlp": {"mlp1_hidden_units": (16, 8), "mlp2_hidden_units": (12,), "fs_hidden_units": (8,), "num_heads": 2,
                 "batch_norm": True},
    "dualmlp": {"mlp1_hidden_units": (16, 8), "mlp2_hidden_units": (12,), "use_fs": False, "num_heads": 4},
}
NAME = {"autoint": "autoint", "autoint_plain": "autoint", "finalmlp": "finalmlp", "dualmlp": "finalmlp"}


def build(case, num_fields=3, embedding_dim=4, **extra):
    return create_student((NAME[case], {**SMALL[case], **extra}), num_fields, embedding_dim)


def test_registered_with_shared_params():
    assert isinstance(create_student("autoint", 3, 4), AutoIntStudent)
    assert isinstance(create_student("finalmlp", 3, 4), FinalMLPStudent)
    autoint = student_hyperparameters("autoint")
    assert {"hidden_units", "dropout", "batch_norm"} <= set(autoint)
    assert autoint["attention_layers"] == 2 and autoint["num_heads"] == 2 and autoint["attention_dim"] is None
    finalmlp = student_hyperparameters("finalmlp")
    assert {"dropout", "batch_norm"} <= set(finalmlp) and "hidden_units" not in finalmlp
    assert finalmlp["use_fs"] is True and finalmlp["num_heads"] == 1


@pytest.mark.parametrize("case", list(SMALL))
def test_output_shapes_including_one_row_in_eval(case):
    torch.manual_seed(0)
    model = build(case)
    assert model(torch.randn(5, 3, 4)).shape == (5,)
    model.eval()
    assert model(torch.randn(1, 3, 4)).shape == (1,)


def test_default_sizes_build_and_run():
    for name in ("autoint", "finalmlp"):
        model = create_student(name, 3, 4).eval()
        assert model(torch.randn(2, 3, 4)).shape == (2,)


@pytest.mark.parametrize("case", list(SMALL))
def test_gradient_reaches_every_parameter(case):
    torch.manual_seed(0)
    model = build(case, dropout=0.0)
    if getattr(model, "gate1", None) is not None:
        # With a zero context every ReLU of the gate MLP sits at 0 (see the dead-gate test); move it to check wiring.
        with torch.no_grad():
            model.gate1.context.normal_()
            model.gate2.context.normal_()
    out = model(torch.randn(6, 3, 4))
    torch.nn.functional.binary_cross_entropy_with_logits(out, torch.tensor([0.0, 1.0] * 3)).backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", ["autoint", "autoint_plain", "finalmlp", "dualmlp"])
def test_a_few_adam_steps_learn_xor(case):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    model = SingleNetwork(spec, 8, (NAME[case], {**SMALL[case], "dropout": 0.0}))
    assert_learns_xor(model, ids, values, y)


def attention_by_hand(E, Wq, Wk, Wv, Wres, scale):
    """One head, explicit loops over the fields; weights act as x @ W.T like nn.Linear."""
    B, F, _ = E.shape
    out = torch.zeros(B, F, Wq.shape[0])
    for b in range(B):
        q, k, v = E[b] @ Wq.T, E[b] @ Wk.T, E[b] @ Wv.T
        for i in range(F):
            scores = torch.stack([q[i] @ k[j] / scale for j in range(F)])
            alpha = torch.exp(scores) / torch.exp(scores).sum()
            out[b, i] = sum(alpha[j] * v[j] for j in range(F)) + Wres @ E[b, i]
    return out.relu()


@pytest.mark.parametrize("use_scale, attention_dim, residual_projection", [
    (False, 3, False),  # identity residual: widths agree
    (True, 3, True),    # projected residual, as in the paper
    (False, 2, False),  # widths differ: projected residual
])
def test_single_head_autoint_equals_hand_written_attention(use_scale, attention_dim, residual_projection):
    gen = torch.Generator().manual_seed(1)
    E = torch.randn(2, 4, 3, generator=gen)
    model = AutoIntStudent(4, 3, attention_layers=1, num_heads=1, attention_dim=attention_dim, use_scale=use_scale,
                           residual_projection=residual_projection, hidden_units=())
    layer = model.attention[0]
    Wq, Wk, Wv = (torch.randn(attention_dim, 3, generator=gen) * 0.5 for _ in range(3))
    projected = attention_dim != 3 or residual_projection
    Wres = torch.randn(attention_dim, 3, generator=gen) if projected else torch.eye(3)
    assert (layer.W_res is not None) == projected
    w_fc, b_fc = torch.randn(1, 4 * attention_dim, generator=gen), torch.tensor([0.3])
    with torch.no_grad():
        layer.W_q.weight.copy_(Wq)
        layer.W_k.weight.copy_(Wk)
        layer.W_v.weight.copy_(Wv)
        if projected:
            layer.W_res.weight.copy_(Wres)
        model.fc.weight.copy_(w_fc)
        model.fc.bias.copy_(b_fc)
    attended = attention_by_hand(E, Wq, Wk, Wv, Wres, math.sqrt(attention_dim) if use_scale else 1.0)
    torch.testing.assert_close(layer(E), attended)
    torch.testing.assert_close(model(E), attended.flatten(1) @ w_fc[0] + b_fc)


def test_heads_split_the_width_contiguously():
    """Two heads equal two independent single-head attentions on the halves of the projections."""
    torch.manual_seed(0)
    E = torch.randn(3, 5, 4)
    two = MultiHeadSelfAttention(4, 4, 2, use_residual=False)
    out = two(E)
    for h in range(2):
        one = MultiHeadSelfAttention(4, 2, 1, use_residual=False)
        rows = slice(2 * h, 2 * h + 2)
        with torch.no_grad():
            for name in ("W_q", "W_k", "W_v"):
                getattr(one, name).weight.copy_(getattr(two, name).weight[rows])
        torch.testing.assert_close(out[..., rows], one(E))


def test_autoint_plus_adds_the_dnn_logit_and_plain_has_none():
    torch.manual_seed(0)
    E = torch.randn(4, 3, 4)
    model = AutoIntStudent(3, 4, hidden_units=(8,), batch_norm=False, dropout=0.0)
    attention_logit = model.fc(model.attention(E).flatten(1)).squeeze(-1)
    torch.testing.assert_close(model(E), attention_logit + model.dnn(E.flatten(1)).squeeze(-1))
    plain = AutoIntStudent(3, 4, hidden_units=())
    assert plain.dnn is None
    n_attention = 2 * 3 * 4 * 4  # two layers of bias-free Q, K, V at width 4, identity residual
    assert sum(p.numel() for p in plain.parameters()) == n_attention + 12 + 1


def test_bilinear_fusion_equals_an_explicit_loop():
    gen = torch.Generator().manual_seed(2)
    x, y = torch.randn(3, 4, generator=gen), torch.randn(3, 6, generator=gen)
    fusion = InteractionAggregation(4, 6, num_heads=2)
    assert fusion.w_xy.shape == (2, 2, 3)
    with torch.no_grad():
        fusion.w_x.bias.fill_(0.1)
        fusion.w_y.bias.fill_(-0.4)
    W, wx, wy = fusion.w_xy.detach(), fusion.w_x.weight[0].detach(), fusion.w_y.weight[0].detach()
    expected = torch.zeros(3)
    for b in range(3):
        total = x[b] @ wx + 0.1 + y[b] @ wy - 0.4
        for h in range(2):
            for i in range(2):
                for j in range(3):
                    total = total + x[b, 2 * h + i] * W[h, i, j] * y[b, 3 * h + j]
        expected[b] = total
    torch.testing.assert_close(fusion(x, y), expected)


def test_bilinear_init_is_xavier_of_the_reference_shape():
    torch.manual_seed(0)
    fusion = InteractionAggregation(400, 800, num_heads=1)
    expected_std = math.sqrt(2.0 / (1 + 400 * 800))
    assert fusion.w_xy.std().item() == pytest.approx(expected_std, rel=0.02)
    assert fusion.w_x.bias.item() == 0.0 and fusion.w_y.bias.item() == 0.0


def test_gate_is_one_at_init_so_finalmlp_starts_as_dualmlp():
    torch.manual_seed(0)
    model = build("finalmlp", dropout=0.0).eval()
    for gate in (model.gate1, model.gate2):
        torch.testing.assert_close(gate(), torch.ones(1, 12))
    E = torch.randn(5, 3, 4)
    dual = build("finalmlp", dropout=0.0, use_fs=False).eval()
    dual.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith("gate")})
    torch.testing.assert_close(model(E), dual(E))


def test_gate_scales_the_stream_inputs():
    torch.manual_seed(0)
    model = build("finalmlp", dropout=0.0).eval()
    with torch.no_grad():
        model.gate1.mlp.layers[-1].bias.copy_(torch.linspace(-2, 2, 12))
    g1 = 2 * torch.sigmoid(torch.linspace(-2, 2, 12))
    E = torch.randn(4, 3, 4)
    e = E.flatten(1)
    torch.testing.assert_close(model(E), model.fusion(model.mlp1(e * g1), model.mlp2(e)))


def test_zero_context_gate_learns_only_its_output_bias():
    """The reference behaviour: a zero context and zero biases leave every gate ReLU at 0."""
    torch.manual_seed(0)
    model = build("finalmlp", dropout=0.0)
    model(torch.randn(6, 3, 4)).sum().backward()
    for gate in (model.gate1, model.gate2):
        last = gate.mlp.layers[-1]
        assert last.bias.grad.abs().sum() > 0
        for name, param in gate.named_parameters():
            if param is not last.bias:
                assert param.grad.abs().sum() == 0, name


def test_dualmlp_has_no_gates():
    model = build("dualmlp")
    assert model.gate1 is None and model.gate2 is None
    assert not any(name.startswith("gate") for name, _ in model.named_parameters())


def test_empty_stream_passes_the_gated_input_through():
    model = FinalMLPStudent(3, 4, mlp1_hidden_units=(), mlp2_hidden_units=(6,), num_heads=2, use_fs=False)
    assert model.fusion.w_xy.shape == (2, 6, 3)
    assert model(torch.randn(2, 3, 4)).shape == (2,)


@pytest.mark.parametrize("params, match", [
    ({"num_heads": 3}, "attention_dim=4 must be a positive multiple of num_heads=3"),
    ({"attention_dim": 6, "num_heads": 4}, "attention_dim=6"),
    ({"num_heads": 0}, "num_heads"),
    ({"attention_layers": 0}, "attention_layers"),
])
def test_autoint_validation(params, match):
    with pytest.raises(ValueError, match=match):
        AutoIntStudent(3, 4, **params)


@pytest.mark.parametrize("params, match", [
    ({"mlp1_hidden_units": (10,), "mlp2_hidden_units": (8,), "num_heads": 4}, r"num_heads=4.*mlp1: 10, mlp2: 8"),
    ({"mlp1_hidden_units": (8,), "mlp2_hidden_units": (6,), "num_heads": 4}, r"num_heads=4.*mlp2: 6"),
    ({"num_heads": 0}, "num_heads"),
])
def test_finalmlp_validation(params, match):
    with pytest.raises(ValueError, match=match):
        FinalMLPStudent(3, 4, **params)


def test_unknown_parameter_is_rejected_by_the_registry():
    with pytest.raises(ValueError, match="no parameter"):
        create_student(("finalmlp", {"hidden_units": (8,)}), 3, 4)
