"""Knowledge abundance (KDEF paper eq. 3) and the singular-value plot."""
import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from skctr import KDEFClassifier, StudentClassifier, make_ctr  # noqa: E402
from skctr.diagnostics import knowledge_abundance, plot_singular_values, singular_values  # noqa: E402


@pytest.fixture(scope="module")
def model():
    X, y = make_ctr(1500, n_fields=4, n_pairs=2, n_triples=1, cardinality=(3, 20), random_state=0)
    # On the CPU the students are separate modules, so the test can write a layer's weights in place;
    # on CUDA they are fused and student_modules() hands out copies.
    return KDEFClassifier(n_students=2, hidden_units=(6, 4), max_epochs=1, device="cpu", random_state=0).fit(X, y)


def test_ka_against_hand_computed_singular_values(model):
    first = dict(model.student_modules())["student_1"].mlp.layers[0]
    with torch.no_grad():
        first.weight.zero_()
        # Singular values 5, 4.5, 3, 0.5, 0.2 and one exact zero: 2 of the 5 non-zero ones exceed 4.
        for i, value in enumerate([5.0, 4.5, 3.0, 0.5, 0.2]):
            first.weight[i, i] = value
    table = knowledge_abundance(model, tau=4.0)
    row = table[(table.student == "student_1") & (table.layer == "mlp.layers.0")].iloc[0]
    assert row.n_singular == 6 and row.n_above_tau == 2
    assert row.ka == pytest.approx(2 / 5)
    assert row["shape"] == (6, first.weight.shape[1])


def test_every_linear_layer_of_every_student(model):
    table = knowledge_abundance(model)
    assert table.groupby("student").size().to_dict() == {"student_0": 3, "student_1": 3}
    assert ((table.ka >= 0) & (table.ka <= 1)).all()
    for _, _, values in singular_values(model):
        assert np.all(np.diff(values) <= 0)


@pytest.mark.parametrize("tau", [-1, 0, 0.0, float("nan"), float("inf"), "4", True, [4.0]])
def test_tau_validated(model, tau):
    with pytest.raises(ValueError, match=r"^tau must be None .* or a positive finite number .*tau=4\.0"):
        knowledge_abundance(model, tau=tau)
    with pytest.raises(ValueError, match=r"^tau must be"):
        plot_singular_values(model, tau=tau)


@pytest.mark.parametrize("relative_tau", [0, 0.0, -0.1, 1.5, float("nan"), None, "0.1", True])
def test_relative_tau_validated(model, relative_tau):
    with pytest.raises(ValueError, match=r"^relative_tau must be a number in \(0, 1\]"):
        knowledge_abundance(model, relative_tau=relative_tau)
    with pytest.raises(ValueError, match=r"^relative_tau must be"):
        plot_singular_values(model, relative_tau=relative_tau)


def test_tau_and_relative_tau_exclusive(model):
    with pytest.raises(ValueError, match=r"tau=4\.0 and relative_tau=0\.5 both set the threshold"):
        knowledge_abundance(model, tau=4.0, relative_tau=0.5)
    with pytest.raises(ValueError, match="relative_tau"):
        plot_singular_values(model, tau=4.0, relative_tau=0.5)
    # The default relative_tau alongside an explicit tau is the absolute threshold, not a conflict.
    assert knowledge_abundance(model, tau=4.0, relative_tau=0.1).attrs == {"tau": 4.0, "relative_tau": None}


def test_plot(model, tmp_path):
    ax = plot_singular_values(model, tau=0.5, clip=None)
    assert len(ax.get_lines()) == 3 + 1  # three layers and the threshold line
    assert "KA" in ax.get_legend().get_texts()[0].get_text()
    ax.figure.savefig(tmp_path / "sv.png")
    assert (tmp_path / "sv.png").stat().st_size > 0
    with pytest.raises(ValueError, match="student"):
        plot_singular_values(model, student="student_9")


def test_single_network():
    X, y = make_ctr(1000, n_fields=3, n_pairs=1, n_triples=0, cardinality=(3, 10), random_state=1)
    single = StudentClassifier(hidden_units=(5,), max_epochs=1, random_state=0).fit(X, y)
    assert knowledge_abundance(single).student.unique().tolist() == ["mlp"]


def _layer(model, student="student_1", index=0):
    return dict(model.student_modules())[student].mlp.layers[index]


def _row(table, student="student_1", layer="mlp.layers.0"):
    return table[(table.student == student) & (table.layer == layer)].iloc[0]


def _set_weight(layer, weight):
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))


def test_relative_default_on_collapsed_layers(model):
    layer = _layer(model)
    out, inp = layer.weight.shape
    rng = np.random.default_rng(0)
    # Rank 1, built by hand: one direction, the others numerically zero (float32 round-off).
    _set_weight(layer, np.outer(rng.standard_normal(out), rng.standard_normal(inp)))
    golden = np.linalg.svd(layer.weight.detach().double().numpy(), compute_uv=False)
    row = _row(knowledge_abundance(model))
    assert row.n_above_tau == 1
    assert row.ka == pytest.approx(1 / (golden > 0).sum())
    # One dominant direction: singular values 3, 0.2, 0.1, 0.05 (below a tenth of 3) in random bases.
    u = np.linalg.qr(rng.standard_normal((out, out)))[0]
    v = np.linalg.qr(rng.standard_normal((inp, inp)))[0]
    sigma = np.array([3.0, 0.2, 0.1, 0.05, 0.01, 0.001][: min(out, inp)])
    _set_weight(layer, u[:, : len(sigma)] @ np.diag(sigma) @ v[:, : len(sigma)].T)
    row = _row(knowledge_abundance(model))
    assert row.n_above_tau == 1 and row.sigma_max == pytest.approx(3.0, rel=1e-6)
    assert row.threshold == pytest.approx(0.3, rel=1e-6)
    # relative_tau moves the cut: 0.05 of 3 is 0.15, which 3 and 0.2 reach.
    assert _row(knowledge_abundance(model, relative_tau=0.05)).n_above_tau == 2
    assert _row(knowledge_abundance(model, relative_tau=0.01)).n_above_tau == 4


def test_relative_default_on_healthy_layer(model):
    layer = _layer(model)
    out, inp = layer.weight.shape
    # Orthonormal rows (all singular values equal to 1.7): every direction counts, whatever relative_tau.
    q = np.linalg.qr(np.random.default_rng(1).standard_normal((inp, out)))[0].T * 1.7
    _set_weight(layer, q)
    for relative_tau in (0.1, 0.5, 0.99):
        row = _row(knowledge_abundance(model, relative_tau=relative_tau))
        assert row.n_above_tau == row.n_singular == min(out, inp) and row.ka == 1.0
    # The same layer under the paper's absolute threshold: 1.7 < 4, nothing counts.
    assert _row(knowledge_abundance(model, tau=4.0)).ka == 0.0


def test_zero_layer_scores_zero(model):
    layer = _layer(model)
    _set_weight(layer, np.zeros(tuple(layer.weight.shape)))
    row = _row(knowledge_abundance(model))
    assert row.sigma_max == 0.0 and row.n_above_tau == 0 and row.ka == 0.0


@pytest.mark.parametrize("tau", [4.0, 1.0, 0.3, 0.05])
def test_absolute_tau_counts_singular_values_above_it(model, tau):
    layer = _layer(model)
    out, inp = layer.weight.shape
    rng = np.random.default_rng(2)
    _set_weight(layer, rng.standard_normal((out, inp)) * 2.0)
    golden = np.linalg.svd(layer.weight.detach().double().numpy(), compute_uv=False)
    table = knowledge_abundance(model, tau=tau)
    row = _row(table)
    assert row.n_above_tau == int((golden > tau).sum())
    assert row.ka == pytest.approx((golden > tau).sum() / (golden > 0).sum())
    assert row.sigma_max == pytest.approx(golden.max())
    assert (table.threshold == tau).all()
    assert table.attrs == {"tau": tau, "relative_tau": None}


def test_small_model_default_is_not_zero():
    X, y = make_ctr(1000, n_fields=3, n_pairs=1, n_triples=0, cardinality=(3, 10), random_state=1)
    small = StudentClassifier(hidden_units=(8, 4), max_epochs=1, random_state=0).fit(X, y)
    default = knowledge_abundance(small)
    assert (default.sigma_max < 4.0).all()  # the paper's absolute threshold sees nothing here
    assert (knowledge_abundance(small, tau=4.0).ka == 0.0).all()
    assert (default.ka > 0).all() and (default.n_above_tau >= 1).all()
    assert np.allclose(default.threshold, 0.1 * default.sigma_max)
    assert default.attrs == {"tau": None, "relative_tau": 0.1}


def test_plot_relative_threshold_per_layer(model):
    ax = plot_singular_values(model, clip=None)
    assert len(ax.get_lines()) == 3 + 3  # three layers, each with its own threshold line
    table = knowledge_abundance(model).set_index(["student", "layer"])
    student = f"student_{model.best_student_index_}"
    lines = ax.get_lines()
    thresholds = [line.get_ydata()[0] for line in lines[1::2]]
    assert thresholds == pytest.approx(table.loc[student, "threshold"].tolist())
    assert all(curve.get_color() == rule.get_color() for curve, rule in zip(lines[::2], lines[1::2]))
    assert "threshold" in ax.get_legend().get_texts()[0].get_text()


def test_plot_of_a_final_model_whose_best_block_is_the_second():
    import matplotlib

    matplotlib.use("Agg")
    from skctr import FINALClassifier

    X, y = make_ctr(n_samples=600, random_state=0)
    model = FINALClassifier(blocks=2, hidden_units=(8,), block2_hidden_units=(8,), max_epochs=1, random_state=0).fit(X, y)
    model.best_student_index_ = 1  # FINAL hands out one module holding both blocks
    ax = plot_singular_values(model)
    assert ax.get_lines()
