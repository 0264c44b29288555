"""``prediction``: an ensemble whose fusion scores below its best member on validation predicts with that member."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skctr import CETNetClassifier, FINALClassifier, KDEFClassifier, StudentClassifier, TF4CTRClassifier, make_ctr
from skctr.serving import serving_module

SMALL = dict(hidden_units=(16,), max_epochs=2, batch_size=256, device="cpu", random_state=0)
ENSEMBLES = {
    "kdef": lambda **kw: KDEFClassifier(n_students=2, **SMALL, **kw),
    "tf4ctr": lambda **kw: TF4CTRClassifier(simple_hidden_units=(8,), **SMALL, **kw),
    "cetnet": lambda **kw: CETNetClassifier(components=["mlp", "pnn"], **SMALL, **kw),
    "final": lambda **kw: FINALClassifier(blocks=2, block2_hidden_units=(8,), **SMALL, **kw),
}


@pytest.fixture(scope="module")
def data():
    return make_ctr(n_samples=3000, random_state=1)


@pytest.mark.parametrize("kind", list(ENSEMBLES))
def test_auto_follows_the_validation_scores(kind, data):
    X, y = data
    forced = {choice: ENSEMBLES[kind](prediction=choice).fit(X, y) for choice in ("ensemble", "best_student", "auto")}
    # The choice changes what is predicted, never what is trained.
    for model in forced.values():
        np.testing.assert_array_equal(model.student_scores_.to_numpy(), forced["ensemble"].student_scores_.to_numpy())
    scores = forced["auto"].student_scores_["auc"].to_numpy()
    best = forced["auto"].best_student_index_
    member = forced["auto"]._member_names()[best]
    assert forced["auto"].prediction_ == (member if scores[1 + best] > scores[0] else "ensemble")
    assert forced["ensemble"].prediction_ == "ensemble"
    assert forced["best_student"].prediction_ == member
    fusion = forced["ensemble"].predict_proba(X)
    student = forced["best_student"].best_student_.predict_proba(X)
    np.testing.assert_allclose(forced["best_student"].predict_proba(X), student, atol=1e-7)
    np.testing.assert_allclose(forced["auto"].predict_proba(X), student if forced["auto"].prediction_ != "ensemble" else fusion,
                               atol=1e-7)
    assert not np.allclose(fusion, student, atol=1e-4)  # the two really differ, so the checks above can fail


def test_a_worse_fusion_is_replaced_by_its_member(data):
    """A fusion forced to be bad (a mean with an untrained member) loses on validation: "auto" serves the member."""
    X, y = data
    model = CETNetClassifier(components=["mlp", "pnn"], **SMALL, prediction="auto").fit(X, y)
    scores = model.student_scores_["auc"]
    # Make the stored fusion score the worst and re-run the choice, as fit does after scoring.
    model.student_scores_.loc["ensemble", "auc"] = scores.iloc[1:].min() - 0.01
    model._choose_best_student()
    assert model.prediction_ == model._member_names()[model.best_student_index_]
    np.testing.assert_allclose(model.predict_proba(X), model.best_student_.predict_proba(X), atol=1e-7)
    model.set_params(prediction="ensemble")._choose_best_student()
    assert model.prediction_ == "ensemble"


def test_the_served_graph_predicts_what_predict_proba_does(data):
    X, y = data
    model = KDEFClassifier(n_students=2, **SMALL, prediction="best_student").fit(X, y)
    module, _ = serving_module(model)
    ids, values = model.field_spec_.split_columns(model.encoder_.transform(X.head(50)))
    with torch.no_grad():
        served = module(torch.as_tensor(ids), torch.as_tensor(values, dtype=torch.float32)).numpy()
    np.testing.assert_allclose(served, model.predict_proba(X.head(50))[:, 1], atol=1e-5)


def test_parameter_is_validated_and_single_networks_lack_it(data):
    X, y = data
    with pytest.raises(ValueError, match="'prediction' parameter"):
        KDEFClassifier(prediction="best").fit(X, y)
    assert "prediction" not in StudentClassifier().get_params()
    assert KDEFClassifier().get_params()["prediction"] == "auto"
