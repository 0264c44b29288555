"""DCNv2, CIN / xDeepFM, Wide & Deep and DeepFM students: shapes, gradients, training, hand formulas."""
import math

import pytest
import torch

from skctr.nn import SingleNetwork
from skctr.nn.students import create_student, student_hyperparameters
from skctr.nn.students import dcnv2, deepfm, wide_deep, xdeepfm  # noqa: F401  importing registers the students
from skctr.nn.students.dcnv2 import CrossNetMix, CrossNetV2, DCNv2Student
from skctr.nn.students.deepfm import DeepFMStudent, fm_second_order
from skctr.nn.students.xdeepfm import CINStudent, XDeepFMStudent
from test_nn import assert_learns_xor, toy_problem  # tests/ is on sys.path (rootdir conftest, prepend import mode)


def n_params(module):
    return sum(p.numel() for p in module.parameters())


SMALL = {
    "dcnv2": {"hidden_units": (16, 8), "batch_norm": True},
    "dcnv2_stacked": {"model_structure": "stacked", "hidden_units": (16,)},
    "dcnv2_crossnet_only": {"model_structure": "crossnet_only", "num_cross_layers": 2},
    "dcnv2_stacked_parallel": {"model_structure": "stacked_parallel", "stacked_hidden_units": (8,),
                               "parallel_hidden_units": (12, 6), "batch_norm": True},
    "dcnv2_mix": {"use_low_rank_mixture": True, "low_rank": 3, "num_experts": 3, "hidden_units": (16,)},
    "dcnv2_mix_stacked_parallel": {"model_structure": "stacked_parallel", "use_low_rank_mixture": True,
                                   "low_rank": 4, "num_experts": 2, "num_cross_layers": 2, "hidden_units": (8,)},
    "cin": {"cin_hidden_units": (6, 4)},
    "xdeepfm": {"cin_hidden_units": (6, 4), "hidden_units": (16,), "batch_norm": True},
    "xdeepfm_nodnn": {"cin_hidden_units": (4,), "hidden_units": (), "linear_bias": True},
    "wide_deep": {"hidden_units": (16, 8), "batch_norm": True},
    "deepfm": {"hidden_units": (16, 8), "batch_norm": True},
    "deepfm_fm_only": {"hidden_units": (), "linear_bias": False},
}


def name_of(case):
    return "wide_deep" if case == "wide_deep" else case.split("_")[0]


def build(case, num_fields=3, embedding_dim=4, **extra):
    return create_student((name_of(case), {**SMALL[case], **extra}), num_fields, embedding_dim)


def test_registered_with_defaults():
    assert isinstance(create_student("dcnv2", 3, 4), DCNv2Student)
    assert isinstance(create_student("cin", 3, 4), CINStudent)
    assert isinstance(create_student("xdeepfm", 3, 4), XDeepFMStudent)
    assert isinstance(create_student("deepfm", 3, 4), DeepFMStudent)
    dcn = student_hyperparameters("dcnv2")
    assert {"hidden_units", "dropout", "batch_norm"} <= set(dcn)
    assert dcn["model_structure"] == "parallel" and dcn["num_cross_layers"] == 3
    assert dcn["use_low_rank_mixture"] is False and dcn["low_rank"] == 32 and dcn["num_experts"] == 4
    assert student_hyperparameters("cin") == {"cin_hidden_units": (32, 32, 32)}
    assert student_hyperparameters("xdeepfm")["linear_bias"] is False
    for name in ("wide_deep", "deepfm", "xdeepfm"):
        assert {"hidden_units", "dropout", "batch_norm"} <= set(student_hyperparameters(name))
    # The shared params reach the students that accept them, and only those.
    shared = {"hidden_units": (5,), "dropout": 0.0, "batch_norm": True}
    assert create_student("cin", 3, 4, shared).student_params == {}
    assert create_student("dcnv2", 3, 4, shared).student_params == shared


def test_default_sizes_build_and_run():
    for name in ("dcnv2", "cin", "xdeepfm", "wide_deep", "deepfm"):
        model = create_student(name, 3, 4).eval()
        assert model(torch.randn(2, 3, 4)).shape == (2,)
    mix = create_student(("dcnv2", {"use_low_rank_mixture": True}), 3, 4).eval()
    assert mix(torch.randn(2, 3, 4)).shape == (2,)


@pytest.mark.parametrize("case", list(SMALL))
def test_output_shapes_including_one_row_in_eval(case):
    torch.manual_seed(0)
    model = build(case)
    assert model(torch.randn(5, 3, 4)).shape == (5,)
    model.eval()
    assert model(torch.randn(1, 3, 4)).shape == (1,)


@pytest.mark.parametrize("case", list(SMALL))
def test_gradient_reaches_every_parameter(case):
    torch.manual_seed(0)
    model = build(case, **({} if case == "cin" else {"dropout": 0.0}))
    embeddings = torch.randn(6, 3, 4, requires_grad=True)
    out = model(embeddings)
    torch.nn.functional.binary_cross_entropy_with_logits(out, torch.tensor([0.0, 1.0] * 3)).backward()
    assert embeddings.grad.abs().sum() > 0
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("case", list(SMALL))
def test_each_row_is_computed_on_its_own_in_eval(case):
    torch.manual_seed(0)
    model = build(case).eval()
    embeddings = torch.randn(4, 3, 4)
    changed = embeddings.clone()
    changed[2] = torch.randn(3, 4)
    before, after = model(embeddings), model(changed)
    keep = [0, 1, 3]
    torch.testing.assert_close(after[keep], before[keep], rtol=0, atol=0)
    assert after[2] != before[2]


@pytest.mark.parametrize("case", [c for c in SMALL if c != "xdeepfm_nodnn"])
def test_a_few_adam_steps_learn_xor(case):
    torch.manual_seed(0)
    spec, ids, values, y = toy_problem(256)
    params = {**SMALL[case]} if case == "cin" else {**SMALL[case], "dropout": 0.0}
    model = SingleNetwork(spec, 8, (name_of(case), params))
    assert_learns_xor(model, ids, values, y)


# --- DCNv2 ---------------------------------------------------------------------------------------------------


def test_crossnet_v2_matches_the_recurrence():
    net = CrossNetV2(5, 2)
    for layer in net.layers:
        torch.nn.init.normal_(layer.bias)
    x0 = torch.randn(3, 5)
    x = x0
    for layer in net.layers:
        x = x0 * (x @ layer.weight.T + layer.bias) + x
    torch.testing.assert_close(net(x0), x)
    assert n_params(net) == 2 * (5 * 5 + 5)


def test_crossnet_mix_matches_a_loop_over_experts():
    torch.manual_seed(0)
    d, r, K, L = 6, 2, 3, 2
    net = CrossNetMix(d, L, low_rank=r, num_experts=K)
    for bias in net.bias:
        torch.nn.init.normal_(bias)
    x0 = torch.randn(4, d)
    expected = []
    for b in range(4):
        x = x0[b]
        for l in range(L):
            gates = torch.stack([net.gate.weight[k] @ x for k in range(K)]).softmax(0)
            experts = [
                x0[b] * (net.U[l][k] @ torch.tanh(net.C[l][k] @ torch.tanh(net.V[l][k].T @ x)) + net.bias[l])
                for k in range(K)
            ]
            x = sum(gates[k] * experts[k] for k in range(K)) + x
        expected.append(x)
    torch.testing.assert_close(net(x0), torch.stack(expected))
    # U, V, C per layer and expert, one bias per layer, K gate rows shared by the layers.
    assert n_params(net) == L * (K * (2 * d * r + r * r) + d) + K * d


def test_crossnet_mix_initialisation_scales():
    torch.manual_seed(0)
    d, r, K = 400, 16, 4
    net = CrossNetMix(d, 1, low_rank=r, num_experts=K)
    assert net.U[0].std().item() == pytest.approx(math.sqrt(2 / (r * (d + K))), rel=0.05)
    assert net.V[0].std().item() == pytest.approx(math.sqrt(2 / (r * (d + K))), rel=0.05)
    assert net.C[0].std().item() == pytest.approx(math.sqrt(2 / (r * (r + K))), rel=0.1)
    assert net.gate.weight.std().item() == pytest.approx(math.sqrt(2 / (d + 1)), rel=0.1)
    assert torch.count_nonzero(net.bias[0]) == 0


@pytest.mark.parametrize("structure, fc_in", [
    ("crossnet_only", 12), ("stacked", 6), ("parallel", 12 + 7), ("stacked_parallel", 6 + 7),
])
def test_dcnv2_structures_wire_the_fc(structure, fc_in):
    model = DCNv2Student(3, 4, model_structure=structure, hidden_units=(9, 7), stacked_hidden_units=(6,))
    assert model.fc.in_features == fc_in
    assert (model.stacked_dnn is not None) == (structure in ("stacked", "stacked_parallel"))
    assert (model.parallel_dnn is not None) == (structure in ("parallel", "stacked_parallel"))
    model.eval()
    E = torch.randn(2, 3, 4)
    x0 = E.flatten(1)
    xL = model.crossnet(x0)
    stacked = model.stacked_dnn(xL) if structure.startswith("stacked") else xL
    parts = [stacked, model.parallel_dnn(x0)] if structure.endswith("parallel") else [stacked]
    torch.testing.assert_close(model(E), model.fc(torch.cat(parts, 1)).squeeze(-1))


def test_dcnv2_checks_its_arguments():
    with pytest.raises(ValueError, match="model_structure"):
        DCNv2Student(3, 4, model_structure="serial")
    with pytest.raises(ValueError, match="num_cross_layers"):
        DCNv2Student(3, 4, num_cross_layers=0)


# --- CIN / xDeepFM -------------------------------------------------------------------------------------------


def test_cin_parameter_count_by_hand():
    # F=3, H = (4, 2): layer 1 Conv1d(3*3 -> 4) = 36 + 4, layer 2 Conv1d(3*4 -> 2) = 24 + 2, fc Linear(6 -> 1) = 7.
    assert n_params(CINStudent(3, 5, cin_hidden_units=(4, 2))) == 40 + 26 + 7
    F, units = 39, (32, 32, 32)
    previous = (F,) + units[:-1]
    expected = sum(F * h_in * h_out + h_out for h_in, h_out in zip(previous, units)) + sum(units) + 1
    assert n_params(CINStudent(F, 16)) == expected
    # xDeepFM adds a bias-free Linear(F*D -> 1) and the MLP.
    xdeepfm = XDeepFMStudent(3, 5, cin_hidden_units=(4, 2), hidden_units=(8,))
    assert n_params(xdeepfm) == 73 + 15 + (15 * 8 + 8) + (8 + 1)


def test_cin_matches_explicit_sums():
    torch.manual_seed(0)
    model = CINStudent(3, 4, cin_hidden_units=(2, 2))
    for conv in model.cin.layers:
        torch.nn.init.normal_(conv.bias)
    E = torch.randn(2, 3, 4)
    W1, b1 = model.cin.layers[0].weight[..., 0], model.cin.layers[0].bias  # (2, 9)
    W2, b2 = model.cin.layers[1].weight[..., 0], model.cin.layers[1].bias  # (2, 6)
    expected = []
    for b in range(2):
        X0 = E[b]
        X1 = torch.stack([
            sum(W1[h, i * 3 + j] * X0[i] * X0[j] for i in range(3) for j in range(3)) + b1[h] for h in range(2)
        ])
        X2 = torch.stack([
            sum(W2[h, i * 2 + m] * X0[i] * X1[m] for i in range(3) for m in range(2)) + b2[h] for h in range(2)
        ])
        pooled = torch.cat([X1.sum(-1), X2.sum(-1)])
        expected.append(model.cin.fc.weight[0] @ pooled + model.cin.fc.bias[0])
    torch.testing.assert_close(model(E), torch.stack(expected))


def test_xdeepfm_is_the_sum_of_its_parts():
    torch.manual_seed(0)
    model = XDeepFMStudent(3, 4, cin_hidden_units=(4,), hidden_units=(8,)).eval()
    assert model.linear.bias is None
    E = torch.randn(5, 3, 4)
    parts = model.linear(E.flatten(1)) + model.cin(E) + model.mlp(E.flatten(1))
    torch.testing.assert_close(model(E), parts.squeeze(-1))


def test_cin_needs_layers():
    with pytest.raises(ValueError, match="cin_hidden_units"):
        CINStudent(3, 4, cin_hidden_units=())


# --- Wide & Deep / DeepFM ------------------------------------------------------------------------------------


def test_wide_deep_is_the_sum_of_its_parts():
    model = create_student(("wide_deep", {"hidden_units": (8,)}), 3, 4).eval()
    assert model.linear.bias is None
    E = torch.randn(5, 3, 4)
    torch.testing.assert_close(model(E), (model.linear(E.flatten(1)) + model.mlp(E.flatten(1))).squeeze(-1))
    assert n_params(model) == 12 + (12 * 8 + 8) + (8 + 1)


def test_fm_term_is_the_sum_over_field_pairs():
    torch.manual_seed(0)
    E = torch.randn(5, 4, 3, dtype=torch.float64)
    expected = torch.stack([
        sum(E[b, i] @ E[b, j] for i in range(4) for j in range(i + 1, 4)) for b in range(5)
    ])
    fm = fm_second_order(E)
    assert fm.shape == (5,)
    torch.testing.assert_close(fm, expected)


def test_deepfm_fm_term_is_per_sample():
    # The TF4CTRv2_DeepFM bug summed the FM term over the batch; here each row depends on its own row only.
    torch.manual_seed(0)
    model = DeepFMStudent(4, 3, hidden_units=(), linear_bias=False).eval()
    torch.nn.init.zeros_(model.linear.weight)  # the logit is the FM term alone
    E = torch.randn(5, 4, 3)
    out = model(E)
    torch.testing.assert_close(out, fm_second_order(E))
    for b in range(5):
        torch.testing.assert_close(model(E[b : b + 1]), out[b : b + 1])
    changed = E.clone()
    changed[0] *= 3.0
    torch.testing.assert_close(model(changed)[1:], out[1:], rtol=0, atol=0)
    full = DeepFMStudent(4, 3, hidden_units=(8,), batch_norm=True).eval()
    parts = full.linear(E.flatten(1)).squeeze(-1) + fm_second_order(E) + full.mlp(E.flatten(1)).squeeze(-1)
    torch.testing.assert_close(full(E), parts)
    assert full.linear.bias is not None


def test_deepfm_rejects_a_flattened_embedding():
    with pytest.raises(ValueError, match=r"\(B, F, D\)"):
        DeepFMStudent(4, 3)(torch.randn(5, 12))
