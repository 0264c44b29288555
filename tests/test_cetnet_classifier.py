"""CETNetClassifier: the estimator contract, component extraction, ablation switches and validation gAUC."""
import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from conftest import check_grid_search
from skctr import CETNetClassifier, FieldEncoder, StudentClassifier, make_ctr
from skctr.metrics import gauc

# Batch norm on, as the switches were measured (on 3,000 rows "auto" would turn it off).
SMALL = dict(hidden_units=(16,), max_epochs=2, batch_size=512, batch_norm=True, random_state=0, device="cpu")
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
    items = X["f1"].astype(str).to_numpy()
    X_seq = X.assign(history=[list(rng.choice(items, size=rng.randint(0, 4))) for _ in range(len(X))])
    # A list column alone is a multi-valued attribute (like genres): still tabular data.
    attribute = CETNetClassifier(**{**SMALL, "max_epochs": 1}).fit(X_seq, y)
    assert [name for name, _ in attribute.components_] == ["dcnv2", "final"]
    # A history of the candidate's ids (a sequence with a target) picks the sequence pair.
    encoder = FieldEncoder(sequence={"history": {"target": "f1"}}, sequence_order="newest_first").fit(X_seq)
    encoded = encoder.transform(X_seq)
    with_history = CETNetClassifier(**{**SMALL, "max_epochs": 1}).fit(encoded, y)
    assert [name for name, _ in with_history.components_] == ["interformer", "dhen"]
    assert with_history.predict_proba(encoded[:7]).shape == (7, 2)


def module_batch(model, X):
    """The encoded ``(ids, values)`` tensors the fitted network reads for ``X``."""
    ids, values = model.field_spec_.split_columns(model.encoder_.transform(X))
    return torch.from_numpy(np.asarray(ids)), torch.from_numpy(np.asarray(values, dtype=np.float32))


def n_parameters(model):
    return sum(p.numel() for p in model.net_.module_.parameters())


@pytest.fixture(scope="module")
def default_model(data):
    """The default CETNet, fitted on first use: inside a test, so under the same torch threads as the others."""
    cache = []

    def get():
        if not cache:
            cache.append(CETNetClassifier(components=PAIR, prediction="ensemble", **SMALL).fit(*data))
        return cache[0]

    return get


@pytest.mark.parametrize("params", [
    {"fusion": "concat"}, {"fusion": "mean", "components": ["mlp", "mlp"]}, {"stop_gradient": False},
    {"shared_embedding": True}, {"kl_weight": 0.0}, {"temperature": 2.0},
])
def test_every_switch_reaches_the_module(data, params, default_model):
    from test_loss_golden import FUSED_LOGITS, MEMBER_LOGITS, Y, cetnet_golden

    X, y = data
    default_model = default_model()
    # The fusion's predictions: prediction="auto" could serve the same member from both models.
    model = CETNetClassifier(**{"components": PAIR, "prediction": "ensemble", **SMALL, **params}).fit(X, y)
    proba = model.predict_proba(X)
    np.testing.assert_array_equal(proba, model.predict_proba(X))
    # Each switch changes what is trained: never the default model.
    assert not np.allclose(proba, default_model.predict_proba(X), atol=1e-4)
    names = list(model.student_scores_.index)
    assert names[0] == "ensemble" and len(names) == 3
    module = model.net_.module_.eval()
    for key, value in params.items():
        if key != "components":
            assert getattr(module, key) == value
    ids, values = module_batch(model, X.head(64))
    with torch.no_grad():
        fused, logits = module(ids, values)
        hidden = [h for _, h in module.component_outputs(ids, values)]
    fusion = params.get("fusion", "confidence")
    if fusion == "concat":
        expected = module.readout(torch.cat(hidden, dim=1))
    elif fusion == "mean":
        assert names[1:] == ["mlp_0", "mlp_1"]
        assert module.readout.in_features == hidden[0].shape[1]
        expected = module.readout((hidden[0] + hidden[1]) / 2)
    else:
        # Confidence fusion: softmax over components of (p log p + (1 - p) log(1 - p)) / temperature.
        p = torch.sigmoid(logits.double())
        confidence = p * torch.log(p) + (1 - p) * torch.log(1 - p)
        weights = torch.softmax(confidence / params.get("temperature", 1.0), dim=1).float()
        expected = module.readout(torch.cat([weights[:, k : k + 1] * h for k, h in enumerate(hidden)], dim=1))
    torch.testing.assert_close(fused, expected[:, 0])
    # The fusion weights carry gradient only with stop_gradient=False.
    assert module.fusion_weights(logits.clone().requires_grad_()).requires_grad == (not params.get("stop_gradient", True))
    # The loss the net trains on (on fixed logits far enough apart for the KL term to count) has its kl_weight.
    fixed_fused, fixed_members = FUSED_LOGITS, MEMBER_LOGITS[:, :2]
    got = model.net_.get_loss((torch.tensor(fixed_fused), torch.tensor(fixed_members)), torch.tensor(Y)).item()
    golden = {w: cetnet_golden(fixed_fused, fixed_members, Y, w, "mean") for w in (0.0, 0.1)}
    assert golden[0.1] - golden[0.0] > 1e-2
    assert got == pytest.approx(golden[params.get("kl_weight", 0.1)], rel=1e-6)
    if params.get("shared_embedding"):
        assert len(module.embeddings) == 1 and module.embedding_of(1) is module.embedding_of(0)
        table = sum(p.numel() for p in module.embeddings[0].parameters())
        assert n_parameters(default_model) - n_parameters(model) == table > 0
        np.testing.assert_allclose(model.get_student(1).predict_proba(X)[:, 1], model.predict_proba_students(X)[:, 1], atol=1e-6)
    else:
        assert len(module.embeddings) == 2 and module.embedding_of(1) is not module.embedding_of(0)


def test_validation_gauc_from_a_group_column(data):
    X, y = data
    X = X.assign(user=np.arange(len(X)) % 50)
    valid = X.sample(600, random_state=1)
    y_valid = y[valid.index]
    model = CETNetClassifier(components=PAIR, prediction="ensemble", **SMALL).fit(X, y, eval_set=(valid, y_valid), groups="user")
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
    check_grid_search(search, X, y, "clf__dropout", [0.1, 0.3])
    fitted = search.best_estimator_
    rates = {layer.p for layer in fitted[-1].net_.module_.modules() if isinstance(layer, torch.nn.Dropout)}
    assert rates == {search.best_params_["clf__dropout"]}
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
