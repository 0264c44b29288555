"""TF4CTRClassifier: the estimator contract, branch extraction and every variant."""
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skctr import FieldEncoder, StudentClassifier, TF4CTRClassifier, make_ctr

SMALL = dict(hidden_units=(16, 16), simple_hidden_units=(8,), max_epochs=2, batch_size=512, random_state=0, device="cpu")


@pytest.fixture(scope="module")
def data():
    return make_ctr(3000, cardinality=(5, 40), random_state=0)


@pytest.mark.parametrize("ssem", ["ser", "share", "gate", "moe"])
def test_best_student_is_the_better_branch(data, ssem, tmp_path):
    X, y = data
    model = TF4CTRClassifier(ssem=ssem, **SMALL).fit(X, y)
    assert list(model.student_scores_.index) == ["ensemble", "simple", "complex"]
    assert model.best_student_index_ == int(np.argmax(model.student_scores_["auc"].to_numpy()[1:]))
    for index in (0, 1):
        branch = model.get_student(index)
        assert isinstance(branch, StudentClassifier)
        np.testing.assert_allclose(branch.predict_proba(X)[:, 1], model.predict_proba_students(X)[:, index], atol=1e-6)
    if ssem == "ser":
        assert model.get_student(0).embedding_dim == 8  # the simple branch's own half-width table
    if ssem in ("gate", "moe"):
        name, params = model.best_student_.student
        assert name == "tf4ctr_branch" and params["selection"] == ssem
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.best_student_.predict_proba(X), model.best_student_.predict_proba(X))


@pytest.mark.parametrize("ssem", ["gate", "moe"])
def test_branch_with_a_registry_encoder_behind_a_selection(data, ssem):
    X, y = data
    model = TF4CTRClassifier(ssem=ssem, fusion="concat", complex_encoder=("wide_deep", {"hidden_units": (8,)}), **SMALL).fit(X, y)
    np.testing.assert_allclose(model.get_student(1).predict_proba(X)[:, 1], model.predict_proba_students(X)[:, 1], atol=1e-6)
    with pytest.raises(IndexError):
        model.get_student(2)


@pytest.mark.parametrize("fusion", ["wsf", "vote", "concat", "moe", "sum"])
def test_every_fusion_predicts_deterministically(data, fusion):
    X, y = data
    model = TF4CTRClassifier(fusion=fusion, **SMALL).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))


def test_pipeline_grid_search_over_dropout(data):
    X, y = data
    pipe = Pipeline([("fields", FieldEncoder()), ("clf", TF4CTRClassifier(**SMALL))])
    search = GridSearchCV(pipe, {"clf__dropout": [0.1, 0.3]}, scoring="roc_auc", cv=2).fit(X, y)
    assert search.best_params_["clf__dropout"] in (0.1, 0.3)
    fitted = search.best_estimator_
    assert fitted[-1].best_student_.predict_proba(fitted[:-1].transform(X.head(5))).shape == (5, 2)


@pytest.mark.parametrize("params, name", [
    ({"ssem": "experts"}, "ssem"), ({"fusion": "max"}, "fusion"), ({"c": 1.2}, "c"), ({"gamma": -1}, "gamma"),
    ({"alpha": 2}, "alpha"), ({"tau": 0}, "tau"), ({"simple_hidden_units": "400"}, "simple_hidden_units"),
])
def test_invalid_parameters_raise_at_fit(data, params, name):
    X, y = data
    model = TF4CTRClassifier(**{**SMALL, **params})
    with pytest.raises(ValueError, match=name):
        model.fit(X, y)


@pytest.mark.parametrize("simple, complex_", [("deepfm", None), (("wide_deep", {"hidden_units": (8,)}), "xdeepfm")])
def test_registry_encoders(data, simple, complex_):
    X, y = data
    model = TF4CTRClassifier(simple_encoder=simple, complex_encoder=complex_, **SMALL).fit(X, y)
    kinds = [type(m).__name__ for m in (model.net_.module_.simple_encoder, model.net_.module_.complex_encoder)]
    assert kinds[0] in ("DeepFMStudent", "WideDeepStudent")
    for index in (0, 1):
        np.testing.assert_allclose(
            model.get_student(index).predict_proba(X)[:, 1], model.predict_proba_students(X)[:, index], atol=1e-6
        )


def test_unknown_registry_encoder(data):
    X, y = data
    with pytest.raises(ValueError, match="simple_encoder"):
        TF4CTRClassifier(simple_encoder="nope", **SMALL).fit(X, y)
