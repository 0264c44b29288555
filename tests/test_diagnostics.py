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
    table = knowledge_abundance(model, tau=0.0)
    assert table.groupby("student").size().to_dict() == {"student_0": 3, "student_1": 3}
    assert ((table.ka >= 0) & (table.ka <= 1)).all()
    for _, _, values in singular_values(model):
        assert np.all(np.diff(values) <= 0)


def test_tau_validated(model):
    with pytest.raises(ValueError, match="tau"):
        knowledge_abundance(model, tau=-1)


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
