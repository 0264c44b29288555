"""CETNetClassifier: the estimator contract, component extraction, ablation switches and validation gAUC."""
import joblib
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skctr import CETNetClassifier, FieldEncoder, StudentClassifier, make_ctr
from skctr.metrics import gauc

SMALL = dict(hidden_units=(16,), max_epochs=2, batch_size=512, random_state=0, device="cpu")
PAIR = ["mlp", ("pnn", {"hidden_units": (8,)})]


@pytest.fixture(scope="module")
def data():
    return make_ctr(3000, cardinality=(5, 40), random_state=0)


def test_best_student_is_the_better_component_on_its_own_table(data, tmp_path):
    X, y = data
    model = CETNetClassifier(components=PAIR, **SMALL).fit(X, y)
    assert list(model.student_scores_.index) == ["ensemble", "mlp", "pnn"]
    assert model.best_student_index_ == int(np.argmax(model.student_scores_["auc"].to_numpy()[1:]))
    tables = model.net_.module_.embeddings
    for index in (0, 1):
        component = model.get_student(index)
        assert isinstance(component, StudentClassifier)
        np.testing.assert_allclose(component.predict_proba(X)[:, 1], model.predict_proba_students(X)[:, index], atol=1e-6)
        np.testing.assert_array_equal(component.net_.module_.embedding.weight.detach(), tables[index].weight.detach())
    joblib.dump(model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.best_student_.predict_proba(X), model.best_student_.predict_proba(X))
    with pytest.raises(IndexError):
        model.get_student(2)


def test_default_components_follow_the_data(data):
    X, y = data
    tabular = CETNetClassifier(**{**SMALL, "max_epochs": 1}).fit(X, y)
    assert [name for name, _ in tabular.components_] == ["dcnv2", "final"]
    assert tabular.components is None  # the parameter stays as given
    rng = np.random.RandomState(0)
    X_seq = X.assign(history=[list(rng.choice(list("abcdefgh"), size=rng.randint(0, 4))) for _ in range(len(X))])
    with_history = CETNetClassifier(**{**SMALL, "max_epochs": 1}).fit(X_seq, y)
    assert [name for name, _ in with_history.components_] == ["interformer", "dhen"]
    assert with_history.predict_proba(X_seq.head(7)).shape == (7, 2)


@pytest.mark.parametrize("params", [
    {"fusion": "concat"}, {"fusion": "mean", "components": ["mlp", "mlp"]}, {"stop_gradient": False},
    {"shared_embedding": True}, {"kl_weight": 0.0}, {"temperature": 2.0},
])
def test_every_switch_fits_and_predicts_deterministically(data, params):
    X, y = data
    model = CETNetClassifier(**{"components": PAIR, **SMALL, **params}).fit(X, y)
    np.testing.assert_array_equal(model.predict_proba(X), model.predict_proba(X))
    names = list(model.student_scores_.index)
    assert names[0] == "ensemble" and len(names) == 3
    if params.get("components") == ["mlp", "mlp"]:
        assert names[1:] == ["mlp_0", "mlp_1"]
    if params.get("shared_embedding"):
        assert len(model.net_.module_.embeddings) == 1
        np.testing.assert_allclose(model.get_student(1).predict_proba(X)[:, 1], model.predict_proba_students(X)[:, 1], atol=1e-6)


def test_validation_gauc_from_a_group_column(data):
    X, y = data
    X = X.assign(user=np.arange(len(X)) % 50)
    valid = X.sample(600, random_state=1)
    y_valid = y[valid.index]
    model = CETNetClassifier(components=PAIR, **SMALL).fit(X, y, eval_set=(valid, y_valid), groups="user")
    expected = gauc(y_valid, model.predict_proba(valid)[:, 1], valid["user"])
    assert model.student_scores_.loc["ensemble", "gauc"] == pytest.approx(expected, abs=1e-9)
    assert model.student_scores_["gauc"].notna().all()


@pytest.mark.parametrize("groups, message", [("nope", "not a column"), (np.zeros(5), "entries")])
def test_bad_groups(data, groups, message):
    X, y = data
    with pytest.raises(ValueError, match=message):
        CETNetClassifier(components=PAIR, **SMALL).fit(X, y, groups=groups)


def test_array_groups_need_no_eval_set(data):
    X, y = data
    with pytest.raises(ValueError, match="column name"):
        CETNetClassifier(components=PAIR, **SMALL).fit(X, y, eval_set=(X, y), groups=np.zeros(len(X)))


def test_pipeline_grid_search_over_dropout(data):
    X, y = data
    pipe = Pipeline([("fields", FieldEncoder()), ("clf", CETNetClassifier(components=PAIR, **SMALL))])
    search = GridSearchCV(pipe, {"clf__dropout": [0.1, 0.3]}, scoring="roc_auc", cv=2).fit(X, y)
    fitted = search.best_estimator_
    assert fitted[-1].best_student_.predict_proba(fitted[:-1].transform(X.head(5))).shape == (5, 2)


@pytest.mark.parametrize("params, name", [
    ({"components": "mlp"}, "components"), ({"components": []}, "components"), ({"components": ["nope"]}, "components"),
    ({"fusion": "max"}, "fusion"), ({"temperature": 0}, "temperature"), ({"kl_weight": -0.1}, "kl_weight"),
    ({"stop_gradient": "yes"}, "stop_gradient"), ({"shared_embedding": 1}, "shared_embedding"),
    ({"fusion": "sum"}, "equal widths"),
])
def test_invalid_parameters_raise_at_fit(data, params, name):
    X, y = data
    with pytest.raises(ValueError, match=name):
        CETNetClassifier(**{"components": PAIR, **SMALL, **params}).fit(X, y)
