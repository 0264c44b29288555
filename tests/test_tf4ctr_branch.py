"""TF4CTR hands out a branch from nn; the branch network it builds is internal, not a student a user can pick."""
import pytest
import torch

from skctr import KDEFClassifier, StudentClassifier, TF4CTRClassifier, make_ctr
from skctr.nn import TF4CTR, available_students
from skctr.nn.students import parse_student
from test_nn import toy_problem


@pytest.mark.parametrize("ssem", ["ser", "gate", "moe", "share"])
@pytest.mark.parametrize("encoder", [None, "deepfm"])
def test_branch_as_student_computes_the_branch_logit(ssem, encoder):
    spec, ids, values, _ = toy_problem(64)
    torch.manual_seed(0)
    model = TF4CTR(spec, 8, ssem=ssem, simple_hidden_units=(6,), complex_hidden_units=(5, 4),
                   simple_encoder=encoder, complex_encoder=encoder).eval()
    with torch.no_grad():
        # Perturb every weight so a branch that copied nothing, or the wrong side, cannot match by chance.
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
        _, branch_logits = model(ids, values)
        for index in (0, 1):
            embedding, network = model.branch_as_student(index)
            network.eval()
            torch.testing.assert_close(network(embedding(ids, values)), branch_logits[:, index])
    assert (branch_logits[:, 0] - branch_logits[:, 1]).abs().max() > 1e-3


def test_branch_index_out_of_range():
    spec, *_ = toy_problem(8)
    with pytest.raises(IndexError, match="0 .simple. or 1 .complex."):
        TF4CTR(spec, 4).branch_as_student(2)


def test_the_internal_branch_network_is_not_offered_as_a_student():
    assert "tf4ctr_branch" not in available_students()
    with pytest.raises(ValueError, match="Unknown student 'tf4ctr_branch'"):
        parse_student("tf4ctr_branch")
    X, y = make_ctr(n_samples=400, random_state=0)
    with pytest.raises(ValueError, match="students: Unknown student 'tf4ctr_branch'"):
        KDEFClassifier(students="tf4ctr_branch", max_epochs=1).fit(X, y)


def test_an_extracted_gate_branch_clones_and_refits():
    X, y = make_ctr(n_samples=1500, random_state=0)
    model = TF4CTRClassifier(ssem="gate", hidden_units=(8,), simple_hidden_units=(8,), max_epochs=1, batch_size=256,
                             random_state=0).fit(X, y)
    student = model.best_student_
    assert isinstance(student, StudentClassifier) and student.student[0] == "tf4ctr_branch"
    refit = StudentClassifier(**student.get_params()).fit(X, y)
    assert refit.predict_proba(X.head(3)).shape == (3, 2)
