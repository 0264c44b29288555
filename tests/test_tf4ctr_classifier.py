"""TF4CTRClassifier: the estimator contract, branch extraction and every variant."""
import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from conftest import check_grid_search
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


def module_batch(model, X):
    """The encoded ``(ids, values)`` tensors the fitted network reads for ``X``."""
    ids, values = model.field_spec_.split_columns(model.encoder_.transform(X))
    return torch.from_numpy(np.asarray(ids)), torch.from_numpy(np.asarray(values, dtype=np.float32))


@pytest.fixture(scope="module")
def wsf_model(data):
    """The default (wsf) TF4CTR, fitted on first use: inside a test, so under the same torch threads as the others."""
    cache = []

    def get():
        if not cache:
            cache.append(TF4CTRClassifier(fusion="wsf", **SMALL).fit(*data))
        return cache[0]

    return get


@pytest.mark.parametrize("fusion", ["wsf", "vote", "concat", "moe", "sum"])
def test_every_fusion_reaches_the_module(data, fusion, wsf_model):
    X, y = data
    wsf_model = wsf_model()
    model = wsf_model if fusion == "wsf" else TF4CTRClassifier(fusion=fusion, **SMALL).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(proba, model.predict_proba(X))  # "vote" too: no Gumbel noise at inference
    if fusion != "wsf":
        assert not np.allclose(proba, wsf_model.predict_proba(X), atol=1e-4)
    module = model.net_.module_.eval()
    assert module.fusion == fusion
    ids, values = module_batch(model, X.head(64))
    with torch.no_grad():
        fused, z = module(ids, values)
        (x_s, x_c), _ = module.branch_inputs(ids, values)
        h_s, h_c = module.simple_encoder(x_s), module.complex_encoder(x_c)
        h = torch.cat([h_s, h_c], dim=1)
        torch.testing.assert_close(z, torch.stack([module.simple_head(h_s), module.complex_head(h_c)], 1)[..., 0])
        if fusion == "wsf":
            weights = module.fusion_weights
            assert not torch.allclose(weights, torch.full((2,), 0.5))  # trained away from the 0.5, 0.5 start
            expected = z @ weights
        elif fusion == "sum":
            expected = z.sum(1)
        elif fusion == "vote":
            votes = torch.cat([module.simple_vote(h_s), module.complex_vote(h_c)], dim=1)
            expected = (torch.softmax(votes / module.tau, dim=1) * z).sum(1)
        elif fusion == "concat":
            expected = module.fusion_head(h)[:, 0]
        else:
            expected = (torch.softmax(module.fusion_gate(h), dim=1) * module.fusion_experts(h)).sum(1)
    torch.testing.assert_close(fused, expected)


def test_pipeline_grid_search_over_dropout(data):
    X, y = data
    pipe = Pipeline([("fields", FieldEncoder()), ("clf", TF4CTRClassifier(**SMALL))])
    search = GridSearchCV(pipe, {"clf__dropout": [0.1, 0.3]}, scoring="roc_auc", cv=2).fit(X, y)
    check_grid_search(search, X, y, "clf__dropout", [0.1, 0.3])
    fitted = search.best_estimator_
    rates = {layer.p for layer in fitted[-1].net_.module_.modules() if isinstance(layer, torch.nn.Dropout)}
    assert rates == {search.best_params_["clf__dropout"]}
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
